"""The training statistics on Spark: hashed n-gram document frequencies and per-class counts.

Executors featurise their partitions with the same kernels as local training, reduce each Arrow batch
to partial sums per bucket, and Spark adds the partial sums up (a distributed aggregation). The driver
receives the totals as :class:`NBStatistics` and the reviews' sparse rows, in the splits' own order,
and fits exactly as the local trainer does: the same matrix, the same statistics, the same model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sentiment_mlops.config import Paths
from sentiment_mlops.model import features
from sentiment_mlops.model.features import FeaturizerSpec
from sentiment_mlops.training.statistics import NBStatistics

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from scipy.sparse import csr_matrix

log = logging.getLogger(__name__)

TRAIN, VALIDATION = 0, 1
# Partial sums per bucket, by split and class: positive/negative sums, document frequency.
_SUMS = ("pos_train", "neg_train", "df_train", "pos_val", "neg_val", "df_val")


@dataclass
class Counted:
    """The two splits' matrices and labels, and the statistics of train and of train + validation."""

    X_train: csr_matrix
    y_train: np.ndarray
    X_val: csr_matrix
    y_val: np.ndarray
    train: NBStatistics
    train_and_validation: NBStatistics


def _featurizer(spec: FeaturizerSpec):  # type: ignore[no-untyped-def]
    def featurize(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        for batch in batches:
            X = features.featurize([t or "" for t in batch.column("text").to_pylist()], spec)
            offsets = pa.array(X.indptr.astype(np.int32))
            yield pa.RecordBatch.from_arrays(
                [
                    batch.column("split"),
                    batch.column("row"),
                    batch.column("label"),
                    pa.ListArray.from_arrays(offsets, pa.array(X.indices.astype(np.int32))),
                    pa.ListArray.from_arrays(offsets, pa.array(X.data.astype(np.float32))),
                ],
                names=["split", "row", "label", "buckets", "counts"],
            )

    return featurize


def _partial_sums(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Per batch: one row per distinct bucket with its sums (Spark then adds the batches up)."""
    import pyarrow as pa

    for batch in batches:
        lengths = batch.column("buckets").value_lengths().to_numpy(zero_copy_only=False)
        buckets = batch.column("buckets").flatten().to_numpy()
        counts = batch.column("counts").flatten().to_numpy()
        split = np.repeat(batch.column("split").to_numpy(), lengths)
        label = np.repeat(batch.column("label").to_numpy(), lengths)
        keys, inverse = np.unique(buckets, return_inverse=True)
        sums = []
        for which in (TRAIN, VALIDATION):
            in_split = split == which
            for mask in (in_split & (label == 1), in_split & (label == 0)):
                sums.append(np.bincount(inverse, weights=np.where(mask, counts, 0.0), minlength=len(keys)))
            sums.append(np.bincount(inverse, weights=in_split, minlength=len(keys)))
        yield pa.RecordBatch.from_arrays(
            [pa.array(keys.astype(np.int64)), *(pa.array(s.astype(np.int64)) for s in sums)],
            names=["bucket", *_SUMS],
        )


def _rows(spark: SparkSession, paths: Paths) -> DataFrame:
    from pyspark.sql import functions as sf

    parts = []
    for which, name in ((TRAIN, "train"), (VALIDATION, "validation")):
        df = spark.read.parquet(str(paths.processed / f"{name}.parquet")).select("text", "label")
        # Within one split the id grows with the file's row order: the driver restores that order.
        parts.append(
            df.select(sf.lit(which).alias("split"), sf.monotonically_increasing_id().alias("row"), "*")
        )
    return parts[0].unionByName(parts[1])


def _matrix(table: pa.Table, n_features: int) -> tuple[csr_matrix, np.ndarray]:
    from scipy.sparse import csr_matrix

    order = np.argsort(table.column("row").to_numpy(), kind="stable")
    table = table.take(order)
    buckets, counts = table.column("buckets").combine_chunks(), table.column("counts").combine_chunks()
    indptr = np.zeros(len(table) + 1, dtype=np.int64)
    np.cumsum(buckets.value_lengths().to_numpy(zero_copy_only=False), out=indptr[1:])
    # Copies: Arrow's buffers are read-only, and scipy writes into a matrix's arrays in place.
    data, indices = np.array(counts.flatten().to_numpy()), np.array(buckets.flatten().to_numpy())
    X = csr_matrix((data, indices, indptr), shape=(len(table), n_features))
    return X, table.column("label").to_numpy().astype(np.int64)


def _statistics(sums: pa.Table, prefixes: tuple[str, ...]) -> NBStatistics:
    df = sum(sums.column(f"df_{p}").to_numpy() for p in prefixes)
    present = df > 0
    seen = sums.column("bucket").to_numpy()[present].astype(np.int32)  # as np.unique(X.indices)
    positive = sum(sums.column(f"pos_{p}").to_numpy() for p in prefixes)[present]
    negative = sum(sums.column(f"neg_{p}").to_numpy() for p in prefixes)[present]
    return NBStatistics(seen, df[present], positive.astype(np.float32), negative.astype(np.float32))


FEATURIZED_SCHEMA = (
    ("split", "int"),
    ("row", "bigint"),
    ("label", "bigint"),
    ("buckets", "array<int>"),
    ("counts", "array<float>"),
)


def featurized(spark: SparkSession, paths: Paths, spec: FeaturizerSpec) -> DataFrame:
    """Train and validation as hashed n-gram rows (``split``, ``row``, ``label``, ``buckets``,
    ``counts``), featurised on the executors with the kernels of local training."""
    from pyspark.sql import functions as sf

    schema = ", ".join(f"{name} {kind}" for name, kind in FEATURIZED_SCHEMA)
    rows = _rows(spark, paths).withColumn("label", sf.col("label").cast("long"))
    return rows.mapInArrow(_featurizer(spec), schema)


def count_splits(spark: SparkSession, paths: Paths, spec: FeaturizerSpec) -> Counted:
    """Featurise train and validation on Spark, aggregate their statistics there, bring both back."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as sf
    from pyspark.sql.types import LongType, StructField, StructType

    started = time.perf_counter()
    rows = featurized(spark, paths, spec).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        sums_schema = StructType(
            [StructField("bucket", LongType(), False), *(StructField(c, LongType(), False) for c in _SUMS)]
        )
        partial = rows.select("split", "label", "buckets", "counts").mapInArrow(_partial_sums, sums_schema)
        totals = partial.groupBy("bucket").agg(*(sf.sum(c).alias(c) for c in _SUMS))
        sums = totals.toArrow()
        sums = sums.take(np.argsort(sums.column("bucket").to_numpy(), kind="stable"))
        log.info("spark: %d distinct buckets counted in %.1fs", len(sums), time.perf_counter() - started)
        table = rows.toArrow()
    finally:
        rows.unpersist()
    split = table.column("split").to_numpy()
    X_train, y_train = _matrix(table.filter(split == TRAIN), spec.n_features)
    X_val, y_val = _matrix(table.filter(split == VALIDATION), spec.n_features)
    return Counted(
        X_train,
        y_train,
        X_val,
        y_val,
        train=_statistics(sums, ("train",)),
        train_and_validation=_statistics(sums, ("train", "val")),
    )
