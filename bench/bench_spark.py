"""Spark engine against the local engine, side by side in one run, on the same 100,000+ reviews.

Scoring: the IMDB splits (train, validation, test; repeated to reach --reviews) scored by the local
streaming scorer and by Spark ``local[2]`` on the same two cores (``bench_spark_scoring.py``); checks
that every probability is identical.
Training statistics: featurising both splits and counting the NB statistics locally, then on Spark.
Accuracy: the model trained with ``--engine spark`` on the test split, beside the local model's.
Fit: Spark MLlib's logistic regression on the cluster against the trainer's fit on the driver, with
the chosen hyper-parameters, on the same rows and statistics (time, iterations, test accuracy).
Projection: the cores that score 500 M reviews in an hour, *estimated* from the measured per-core rate.

    python bench/bench_spark.py [--reviews 100000] [--reps 3] [--sections scoring,...] [--out ...]

``--sections`` re-measures only some parts; the others stay as they are in ``--out``, and ``runs``
records each part's command, start time and load.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bench_spark_scoring
from sentiment_mlops import spark_session
from sentiment_mlops.config import Paths, load_params
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.model import features
from sentiment_mlops.model.artifact import SentimentModel, sigmoid
from sentiment_mlops.model.features import FeaturizerSpec
from sentiment_mlops.training import nbsvm, spark_cluster_fit, spark_stats, train
from sentiment_mlops.training.statistics import NBStatistics

CORES = 2
SECTIONS = ("scoring", "training_statistics", "fit", "accuracy")


def _reviews(paths: Paths, n: int) -> pd.DataFrame:
    splits = [pd.read_parquet(paths.processed / f"{s}.parquet") for s in ("train", "validation", "test")]
    one = pd.concat(splits, ignore_index=True)[["id", "text"]]
    df = pd.concat([one] * -(-n // len(one)), ignore_index=True)
    df["rid"] = np.arange(len(df))
    return df


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
    cluster = spark_cluster_fit.fit_on_cluster(spark, rows, stats, n_features=spec.n_features, **hyper)
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


def _summary(report: dict, name: str) -> dict:
    keys = (
        "local_reviews_per_s",
        "spark_local2_reviews_per_s",
        "local_over_spark_ratio",
        "identical_to_local",
    )
    return {**{k: report[name].get(k) for k in keys}, **report.get("runs", {}).get(name, {})}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3, help="timed scoring runs of each side")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help="comma-separated subset of %(default)s; the others are kept from the existing --out",
    )
    parser.add_argument("--out", type=Path, default=Path("reports/bench/spark.json"))
    args = parser.parse_args()
    sections = [s for s in args.sections.split(",") if s]
    if unknown := set(sections) - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    paths = Paths()
    params = load_params(paths.params_file)
    spec = FeaturizerSpec(params.features.ngram_max, params.features.hash_bits, params.features.binary)
    report: dict = {}
    if set(sections) != set(SECTIONS) and args.out.exists():
        report = json.loads(args.out.read_text())
        # A report written by one full run keeps its load in one place: give it to each part kept.
        legacy = report.pop("load_average_1_5_15", None)
        for name in SECTIONS:
            if legacy and name in report and name not in report.get("runs", {}):
                report.setdefault("runs", {})[name] = {
                    "command": "make bench-spark",
                    "load_average_1_5_15": legacy,
                }
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        events = Path(tmp) / "events"
        events.mkdir()
        started = time.perf_counter()
        spark = spark_session.get_session(
            "sentiment-bench",
            master=f"local[{CORES},4]",
            # One plain JSON file (Spark 4 rolls and compresses event logs by default).
            conf={
                "spark.eventLog.enabled": "true",
                "spark.eventLog.dir": events.as_uri(),
                "spark.eventLog.rolling.enabled": "false",
                "spark.eventLog.compress": "false",
            },
        )
        spark.sparkContext.setLogLevel("WARN")
        report["spark_master"] = f"local[{CORES},4]"
        report["spark_session_start_seconds"] = round(time.perf_counter() - started, 2)
        model = SentimentModel.load(paths.model_dir)
        runs = report.setdefault("runs", {})
        counted = None
        for name in SECTIONS:
            if name not in sections:
                continue
            load_before, started_at = _load(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if name == "scoring":
                df = _reviews(paths, args.reviews)
                result = bench_spark_scoring.compare(spark, model, df, Path(tmp), args.reps, events)
            elif name == "training_statistics":
                counted, result = _statistics(spark, paths, spec)
            elif name == "fit":
                if counted is None:
                    counted, _ = _statistics(spark, paths, spec)
                result = _fit(spark, paths, params, spec, counted)
                counted = None
            else:
                result = _accuracy(paths, Path(tmp))
            if name == "scoring" and "scoring" in report:  # every scoring run stays on record
                result["earlier_runs"] = [*report["scoring"].pop("earlier_runs", []), _summary(report, name)]
            report[name] = result
            runs[name] = {
                "command": f"python bench/bench_spark.py --sections {name}"
                if len(sections) < len(SECTIONS)
                else "make bench-spark",
                "started_utc": started_at,
                "load_average_1_5_15": {"before": load_before, "after": _load()},
            }
            print(name, result, flush=True)
            atomic_write_json(args.out, report)  # each section as soon as it is measured
        spark.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
