"""The classifier fitted on the cluster: Spark MLlib's logistic regression on the NB-scaled vectors.

The alternative to the trainer's fit on the driver (liblinear on the matrix the executors sent back),
kept to measure which one scales (``make bench-spark``, ``cluster_fit`` in reports/bench/spark.json).
Only the n-gram buckets kept by ``min_df`` become features, so a vector has the length of the
vocabulary (about 0.7 M on IMDB), not of the 2**24 hash space.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment_mlops.training.spark_stats import TRAIN, VALIDATION
from sentiment_mlops.training.statistics import NBStatistics

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


@dataclass
class ClusterFit:
    """Effective weights over all buckets (as :class:`~sentiment_mlops.training.nbsvm.Fitted`)."""

    weights: np.ndarray
    bias: float
    iterations: int
    seconds: float


def nb_ratio(stats: NBStatistics, keep: np.ndarray, alpha: float) -> np.ndarray:
    """The NB log-count ratio of the kept buckets, as the trainer computes it (float32 sums)."""
    p = alpha + stats.positive[keep]
    q = alpha + stats.negative[keep]
    return np.log((p / p.sum()) / (q / q.sum()))


def _vectors(columns: Any, ratio: Any):  # type: ignore[no-untyped-def]
    def to_vectors(rows: Iterator[Any]) -> Iterator[tuple[float, Any]]:
        from pyspark.ml.linalg import SparseVector

        cols, r = columns.value, ratio.value
        for row in rows:
            buckets = np.asarray(row.buckets, dtype=np.int64)
            at = np.minimum(np.searchsorted(cols, buckets), len(cols) - 1)
            kept = cols[at] == buckets
            idx = at[kept]
            values = np.asarray(row.counts, dtype=np.float64)[kept] * r[idx]
            order = np.argsort(idx)  # a review's buckets come in n-gram order; vectors want ascending
            yield float(row.label), SparseVector(len(cols), idx[order], values[order])

    return to_vectors


def fit_on_cluster(
    spark: SparkSession,
    rows: DataFrame,
    stats: NBStatistics,
    *,
    C: float,
    nb_alpha: float,
    beta: float,
    min_df: int,
    max_iter: int,
    n_features: int,
) -> ClusterFit:
    """Fit on every row of ``rows`` (``spark_stats.featurized``, both splits): the refit's data.

    sklearn's ``C`` (sum of losses + |w|²/2) is MLlib's ``regParam = 1 / (C n)`` (mean loss);
    standardisation is off because the NB ratio already scales each feature.
    """
    from pyspark import StorageLevel
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql.types import DoubleType, StructField, StructType

    started = time.perf_counter()
    keep = stats.df >= min_df
    columns = stats.seen[keep].astype(np.int64)
    r = nb_ratio(stats, keep, nb_alpha)
    sc = spark.sparkContext
    data = (
        rows.where(rows.split.isin(TRAIN, VALIDATION))
        .select("label", "buckets", "counts")
        .rdd.mapPartitions(_vectors(sc.broadcast(columns), sc.broadcast(r)))
        .toDF(StructType([StructField("label", DoubleType()), StructField("features", VectorUDT())]))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        n = data.count()
        lr = LogisticRegression(
            regParam=1.0 / (C * n),
            elasticNetParam=0.0,
            standardization=False,
            fitIntercept=True,
            maxIter=max_iter,
        )
        model = lr.fit(data)
    finally:
        data.unpersist()
    w = model.coefficients.toArray()
    w = (1.0 - beta) * np.abs(w).mean() + beta * w  # the trainer's NBSVM interpolation
    weights = np.zeros(n_features, dtype=np.float32)
    weights[columns] = (r * w).astype(np.float32)
    seconds = time.perf_counter() - started
    iterations = int(model.summary.totalIterations)
    log.info("MLlib logistic regression: %d reviews, %d iterations, %.1fs", n, iterations, seconds)
    return ClusterFit(weights, float(model.intercept), iterations, seconds)
