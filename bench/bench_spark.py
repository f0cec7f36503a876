"""Spark engine against the local engine, side by side in one run, on the same 100,000+ reviews.

Scoring: the IMDB splits (train, validation, test; repeated to reach --reviews) scored by the local
streaming scorer (one process) and by Spark ``local[2]``; checks that every probability is identical.
Training statistics: featurising both splits and counting the NB statistics locally, then on Spark.
Accuracy: the model trained with ``--engine spark`` on the test split, beside the local model's.
Fit: Spark MLlib's logistic regression on the cluster against the trainer's fit on the driver, with
the chosen hyper-parameters, on the same rows and statistics (time, iterations, test accuracy).
Projection: the cores that score 500 M reviews in an hour, *estimated* from the measured per-core rate.

    python bench/bench_spark.py [--reviews 100000] [--out reports/bench/spark.json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sentiment_mlops.batch.files import predict_file
from sentiment_mlops.config import Paths, load_params
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.model import features
from sentiment_mlops.model.artifact import SentimentModel, sigmoid
from sentiment_mlops.model.features import FeaturizerSpec
from sentiment_mlops.spark import cluster_fit, scoring, session
from sentiment_mlops.training import nbsvm, spark_stats, train
from sentiment_mlops.training.statistics import NBStatistics

CORES = 2
TARGET_REVIEWS, TARGET_SECONDS = 500_000_000, 3600


def _reviews(paths: Paths, n: int) -> pd.DataFrame:
    splits = [pd.read_parquet(paths.processed / f"{s}.parquet") for s in ("train", "validation", "test")]
    one = pd.concat(splits, ignore_index=True)[["id", "text"]]
    df = pd.concat([one] * -(-n // len(one)), ignore_index=True)
    df["rid"] = np.arange(len(df))
    return df


def _scoring(spark, model: SentimentModel, df: pd.DataFrame, work: Path) -> dict:
    source = work / "reviews.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), source, row_group_size=10_000)
    # Both engines score a small file first: Spark's first job starts its Python workers and
    # warms the JVM, a cost a nightly job pays once and that is reported on its own.
    warm = work / "warm.parquet"
    pq.write_table(pa.Table.from_pandas(df.head(2_000), preserve_index=False), warm)
    predict_file(model, warm, work / "warm-local.parquet")
    started = time.perf_counter()
    scoring.predict_dataset(spark, model, str(warm), str(work / "warm-spark"))
    first_job_s = time.perf_counter() - started
    partitions = spark.read.parquet(str(source)).rdd.getNumPartitions()
    started = time.perf_counter()
    predict_file(model, source, work / "local.parquet")
    local_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = scoring.predict_dataset(spark, model, str(source), str(work / "spark"))
    spark_s = time.perf_counter() - started
    local = pd.read_parquet(work / "local.parquet", columns=["rid", "probability", "label"]).set_index("rid")
    on_spark = pd.read_parquet(work / "spark", columns=["rid", "probability", "label"]).set_index("rid")
    on_spark = on_spark.loc[local.index]
    identical = (
        rows == len(df)
        and bool((on_spark["probability"].to_numpy() == local["probability"].to_numpy()).all())
        and bool((on_spark["label"] == local["label"]).all())
    )
    local_rps, spark_rps = len(df) / local_s, len(df) / spark_s
    per_core = spark_rps / CORES
    return {
        "reviews": len(df),
        "identical_to_local": identical,
        "spark_first_job_seconds_2000_reviews": round(first_job_s, 2),
        "spark_input_partitions": partitions,
        "arrow_max_records_per_batch": int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")),
        "local_seconds": round(local_s, 2),
        "spark_seconds": round(spark_s, 2),
        "local_reviews_per_s": round(local_rps),
        "spark_local2_reviews_per_s": round(spark_rps),
        "local_over_spark_ratio": round(local_rps / spark_rps, 3),
        "spark_per_core_reviews_per_s": round(per_core),
        "local_over_spark_per_core_ratio": round(local_rps / per_core, 3),
        "projection": {
            "reviews": TARGET_REVIEWS,
            "within_seconds": TARGET_SECONDS,
            "executor_cores": int(np.ceil(TARGET_REVIEWS / TARGET_SECONDS / per_core)),
            "note": "an estimate from the per-core rate measured here on local[2]; not measured on a cluster",
        },
    }


def _statistics(spark, paths: Paths, spec: FeaturizerSpec) -> tuple[dict, spark_stats.Counted]:
    started = time.perf_counter()
    frames = [pd.read_parquet(paths.processed / f"{s}.parquet") for s in ("train", "validation")]
    X = [features.featurize(f["text"].tolist(), spec) for f in frames]
    y = [f["label"].to_numpy(np.int64) for f in frames]
    seen = np.unique(X[0].indices)
    NBStatistics.of(seen, X[0][:, seen].tocsc(), y[0])
    from scipy.sparse import vstack

    X_all = vstack(X).tocsr()
    seen_all = np.unique(X_all.indices)
    NBStatistics.of(seen_all, X_all[:, seen_all].tocsc(), np.concatenate(y))
    local_s = time.perf_counter() - started
    started = time.perf_counter()
    counted = spark_stats.count_splits(spark, paths, spec)
    spark_s = time.perf_counter() - started
    assert (counted.X_train != X[0]).nnz == 0
    return counted, {
        "reviews": sum(len(f) for f in frames),
        "local_seconds": round(local_s, 2),
        "spark_local2_seconds": round(spark_s, 2),
        "spark_over_local_ratio": round(spark_s / local_s, 3),
        "what": "featurise train + validation and count df and per-class sums for train and train+validation;"
        " Spark's time includes bringing the rows back to the driver for the fit",
    }


def _fit(spark, paths: Paths, params, spec: FeaturizerSpec, counted: spark_stats.Counted) -> dict:
    """MLlib on the cluster against liblinear on the driver: same rows, statistics, hyper-parameters."""
    from scipy.sparse import vstack

    chosen = SentimentModel.load(paths.model_dir).card["chosen"]
    hyper = {
        "C": chosen["C"],
        "nb_alpha": chosen["nb_alpha"],
        "beta": chosen["beta"],
        "min_df": params.features.min_df,
        "max_iter": params.train.max_iter,
    }
    stats = counted.train_and_validation
    started = time.perf_counter()
    X_fit = vstack([counted.X_train, counted.X_val]).tocsr()
    y_fit = np.concatenate([counted.y_train, counted.y_val])
    driver = nbsvm.fit_nbsvm(X_fit, y_fit, stats=stats, **hyper)
    driver_s = time.perf_counter() - started
    rows = spark_stats.featurized(spark, paths, spec)
    cluster = cluster_fit.fit_on_cluster(spark, rows, stats, n_features=spec.n_features, **hyper)
    test = pd.read_parquet(paths.processed / "test.parquet")
    X_test, y_test = features.featurize(test["text"].tolist(), spec), test["label"].to_numpy()

    def accuracy(weights: np.ndarray, bias: float) -> float:
        return float(np.mean((sigmoid(X_test @ weights.astype(np.float64) + bias) >= 0.5) == y_test))

    acc_driver, acc_cluster = accuracy(driver.weights, driver.bias), accuracy(cluster.weights, cluster.bias)
    return {
        "reviews": len(y_fit),
        "hyper_parameters": hyper,
        "driver_liblinear_seconds": round(driver_s, 1),
        "cluster_mllib_seconds": round(cluster.seconds, 1),
        "cluster_mllib_iterations": cluster.iterations,
        "driver_test_accuracy": round(acc_driver, 5),
        "cluster_test_accuracy": round(acc_cluster, 5),
        "what": "uncalibrated refit on train + validation (no snippets) with the chosen"
        " hyper-parameters; the driver fit's time excludes bringing the rows back (in"
        " training_statistics), MLlib's includes building the NB-scaled vectors on the executors",
    }


def _accuracy(paths: Paths, root: Path) -> dict:
    """Train with each engine on the same splits and parameters (this code, this run)."""
    project = root / "project"
    shutil.copytree(paths.processed, project / "data" / "processed")
    shutil.copy(paths.params_file, project / "params.yaml")
    (project / "data" / "interim").mkdir()
    shutil.copy(paths.interim / "unsup.parquet", project / "data" / "interim" / "unsup.parquet")
    p = Paths(project)
    params = load_params(p.params_file)
    started = time.perf_counter()
    local = train.run(p, params, track=False)
    local_s = time.perf_counter() - started
    started = time.perf_counter()
    on_spark = train.run(p, params, track=False, engine="spark")
    spark_s = time.perf_counter() - started
    test = pd.read_parquet(paths.processed / "test.parquet")

    def accuracy(m: SentimentModel) -> float:
        return float(np.mean((m.predict_proba(test["text"].tolist()) >= 0.5) == test["label"].to_numpy()))

    acc_spark, acc_local = accuracy(on_spark), accuracy(local)
    return {
        "test_reviews": len(test),
        "spark_trained_test_accuracy": round(acc_spark, 5),
        "local_trained_test_accuracy": round(acc_local, 5),
        "difference_points": round(100 * (acc_spark - acc_local), 3),
        "same_version_as_local": on_spark.version == local.version,
        "local_train_seconds": round(local_s, 1),
        "spark_train_seconds": round(spark_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("reports/bench/spark.json"))
    args = parser.parse_args()
    paths = Paths()
    params = load_params(paths.params_file)
    spec = FeaturizerSpec(params.features.ngram_max, params.features.hash_bits, params.features.binary)
    load_before = os.getloadavg()
    started = time.perf_counter()
    spark = session.get_session("sentiment-bench", master=f"local[{CORES},4]")
    spark.sparkContext.setLogLevel("WARN")
    start_s = time.perf_counter() - started
    model = SentimentModel.load(paths.model_dir)
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        report = {
            "spark_master": f"local[{CORES},4]",
            "spark_session_start_seconds": round(start_s, 2),
            "scoring": _scoring(spark, model, _reviews(paths, args.reviews), Path(tmp)),
        }
        counted, report["training_statistics"] = _statistics(spark, paths, spec)
        report["fit"] = _fit(spark, paths, params, spec, counted)
        del counted
        report["accuracy"] = _accuracy(paths, Path(tmp))
    spark.stop()
    report["load_average_1_5_15"] = {
        "before": [round(x, 2) for x in load_before],
        "after": [round(x, 2) for x in os.getloadavg()],
    }
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")
    for section in ("scoring", "training_statistics", "fit", "accuracy"):
        print(section, report[section])


if __name__ == "__main__":
    main()
