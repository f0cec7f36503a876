"""Spark engine against the local engine, side by side in one run, on the same 100,000+ reviews.

Scoring: the IMDB splits (train, validation, test; repeated to reach --reviews) scored by the local
streaming scorer (one process) and by Spark ``local[2]``; checks that every probability is identical.
Training statistics: featurising both splits and counting the NB statistics locally, then on Spark.
Accuracy: the model trained with ``--engine spark`` on the test split, beside the local model's.
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
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.model.features import FeaturizerSpec
from sentiment_mlops.spark import scoring, session
from sentiment_mlops.training import spark_stats, train

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


def _statistics(spark, paths: Paths, spec: FeaturizerSpec) -> dict:
    started = time.perf_counter()
    frames = [pd.read_parquet(paths.processed / f"{s}.parquet") for s in ("train", "validation")]
    X = [features.featurize(f["text"].tolist(), spec) for f in frames]
    y = [f["label"].to_numpy(np.int64) for f in frames]
    seen = np.unique(X[0].indices)
    train.NBStatistics.of(seen, X[0][:, seen].tocsc(), y[0])
    from scipy.sparse import vstack

    X_all = vstack(X).tocsr()
    seen_all = np.unique(X_all.indices)
    train.NBStatistics.of(seen_all, X_all[:, seen_all].tocsc(), np.concatenate(y))
    local_s = time.perf_counter() - started
    started = time.perf_counter()
    counted = spark_stats.count_splits(spark, paths, spec)
    spark_s = time.perf_counter() - started
    assert (counted.X_train != X[0]).nnz == 0
    return {
        "reviews": sum(len(f) for f in frames),
        "local_seconds": round(local_s, 2),
        "spark_local2_seconds": round(spark_s, 2),
        "spark_over_local_ratio": round(spark_s / local_s, 3),
        "what": "featurise train + validation and count df and per-class sums for train and train+validation;"
        " Spark's time includes bringing the rows back to the driver for the fit",
    }


def _accuracy(paths: Paths, root: Path) -> dict:
    project = root / "project"
    shutil.copytree(paths.processed, project / "data" / "processed")
    shutil.copy(paths.params_file, project / "params.yaml")
    (project / "data" / "interim").mkdir()
    shutil.copy(paths.interim / "unsup.parquet", project / "data" / "interim" / "unsup.parquet")
    p = Paths(project)
    started = time.perf_counter()
    model = train.run(p, load_params(p.params_file), track=False, engine="spark")
    seconds = time.perf_counter() - started
    test = pd.read_parquet(paths.processed / "test.parquet")
    local = SentimentModel.load(paths.model_dir)

    def accuracy(m: SentimentModel) -> float:
        return float(np.mean((m.predict_proba(test["text"].tolist()) >= 0.5) == test["label"].to_numpy()))

    acc_spark, acc_local = accuracy(model), accuracy(local)
    return {
        "spark_trained_test_accuracy": round(acc_spark, 5),
        "local_trained_test_accuracy": round(acc_local, 5),
        "difference_points": round(100 * (acc_spark - acc_local), 3),
        "same_version_as_local": model.version == local.version,
        "spark_train_seconds": round(seconds, 1),
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
            "training_statistics": _statistics(spark, paths, spec),
            "accuracy": _accuracy(paths, Path(tmp)),
        }
    spark.stop()
    report["load_average_1_5_15"] = {
        "before": [round(x, 2) for x in load_before],
        "after": list(os.getloadavg()),
    }
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")
    for section in ("scoring", "training_statistics", "accuracy"):
        print(section, report[section])


if __name__ == "__main__":
    main()
