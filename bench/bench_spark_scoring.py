"""Scoring for ``bench_spark.py``: the local scorer against Spark, like for like; where Spark's time goes.

Both sides read the same Parquet file and write the same rows (input columns, label, probability)
to Parquet, on the same two cores: the local scorer's kernels spread each batch over every usable
CPU; Spark ``local[2]`` runs two tasks at once, each with one kernel thread (the task's CPUs). Each
side first scores the whole input once, untimed beyond being reported as the cold run (Spark's JVM
compiles its Parquet and Arrow paths then); the timed runs alternate local and Spark. Spark's time
is then split by its event log: task time, CPU, GC, and the Python workers' own metrics.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sentiment_mlops.batch import spark_scoring
from sentiment_mlops.batch.files import predict_file
from sentiment_mlops.model import kernels
from sentiment_mlops.model.artifact import SentimentModel

TARGET_REVIEWS, TARGET_SECONDS = 500_000_000, 3600
_PYTHON_METRICS = (
    "time to start Python workers",
    "time to initialize Python workers",
    "time to run Python workers",
    "time to execute Python code",
    "data sent to Python workers",
    "data returned from Python workers",
)


def _events(log_dir: Path) -> list[dict[str, Any]]:
    files = sorted(p for p in log_dir.rglob("*") if p.is_file())
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]


def stage_breakdown(log_dir: Path, group: str) -> dict[str, Any]:
    """Task time, CPU, GC and the Python metrics summed over the jobs of ``group`` (Spark's event log)."""
    events = _events(log_dir)
    stages: set[int] = set()
    jobs = {}
    for e in events:
        if (
            e["Event"] == "SparkListenerJobStart"
            and e.get("Properties", {}).get("spark.jobGroup.id") == group
        ):
            stages.update(e["Stage IDs"])
            jobs[e["Job ID"]] = [e["Submission Time"], None]
        elif e["Event"] == "SparkListenerJobEnd" and e["Job ID"] in jobs:
            jobs[e["Job ID"]][1] = e["Completion Time"]
    sums: dict[str, float] = defaultdict(float)
    tasks = 0
    for e in events:
        if e["Event"] != "SparkListenerTaskEnd" or e["Stage ID"] not in stages:
            continue
        tasks += 1
        m = e["Task Metrics"]
        sums["task_run_ms"] += m["Executor Run Time"]
        sums["task_cpu_ms"] += m["Executor CPU Time"] / 1e6
        sums["jvm_gc_ms"] += m["JVM GC Time"]
        sums["task_deserialize_ms"] += m["Executor Deserialize Time"]
        for acc in e["Task Info"].get("Accumulables", []):
            if acc.get("Name") in _PYTHON_METRICS and acc.get("Update") is not None:
                sums[acc["Name"]] += float(acc["Update"])
    out: dict[str, Any] = {
        "jobs": len(jobs),
        "tasks": tasks,
        "jobs_wall_s": round(sum((b - a) for a, b in jobs.values() if b) / 1000, 2),
    }
    out.update({k: round(v) for k, v in sums.items()})
    return out


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def compare(spark, model: SentimentModel, df: pd.DataFrame, work: Path, reps: int, log_dir: Path) -> dict:
    """Cold run, then ``reps`` alternating timed runs of each side; identity checked on the last."""
    source = work / "reviews.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), source, row_group_size=10_000)
    partitions = spark.read.parquet(str(source)).rdd.getNumPartitions()
    runs: list[dict[str, float]] = []
    for rep in range(reps + 1):
        local_dest, spark_dest = work / f"local-{rep}.parquet", work / f"spark-{rep}"
        spark.sparkContext.setJobGroup(f"scoring-{rep}", f"bench scoring run {rep}")
        run = {
            "local_s": _timed(lambda: predict_file(model, source, local_dest)),  # noqa: B023
            "spark_s": _timed(
                lambda: spark_scoring.predict_dataset(spark, model, str(source), str(spark_dest))  # noqa: B023
            ),
            "load_1min": os.getloadavg()[0],
        }
        runs.append({k: round(v, 2) for k, v in run.items()})
        print("scoring run", rep, runs[-1], flush=True)
    spark.sparkContext.setJobGroup("floor", "bench: Spark read and write, no Python")
    floor_s = _timed(lambda: spark.read.parquet(str(source)).write.parquet(str(work / "floor")))
    # What one job costs whatever its size (schema, planning, five small jobs, commit, rename):
    # the best of three warm runs on 1,000 reviews.
    tiny = work / "tiny.parquet"
    pq.write_table(pa.Table.from_pandas(df.head(1_000), preserve_index=False), tiny)
    fixed_s = min(
        _timed(lambda: spark_scoring.predict_dataset(spark, model, str(tiny), str(work / f"tiny-{i}")))  # noqa: B023
        for i in range(3)
    )
    local = pd.read_parquet(local_dest, columns=["rid", "probability", "label"]).set_index("rid")
    on_spark = pd.read_parquet(spark_dest, columns=["rid", "probability", "label"]).set_index("rid")
    on_spark = on_spark.loc[local.index]
    identical = (
        len(on_spark) == len(df)
        and bool((on_spark["probability"].to_numpy() == local["probability"].to_numpy()).all())
        and bool((on_spark["label"] == local["label"]).all())
    )
    timed = runs[1:]
    local_s = statistics.median(r["local_s"] for r in timed)
    spark_s = statistics.median(r["spark_s"] for r in timed)
    local_rps, spark_rps = len(df) / local_s, len(df) / spark_s
    per_core = spark_rps / 2
    return {
        "reviews": len(df),
        "identical_to_local": identical,
        "like_for_like": "same Parquet input, same rows and columns written to Parquet, both on 2 cores"
        f" (local: {kernels.info().threads} kernel threads per batch; Spark: 2 tasks at once, each with"
        " 1 kernel thread); each side's first full run is the cold run, reported apart and excluded"
        " from the medians; timed runs alternate local and Spark",
        "spark_input_partitions": partitions,
        "arrow_max_records_per_batch": int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")),
        "cold_run": runs[0],
        "timed_runs": timed,
        "local_seconds": round(local_s, 2),
        "spark_seconds": round(spark_s, 2),
        "local_reviews_per_s": round(local_rps),
        "spark_local2_reviews_per_s": round(spark_rps),
        "local_over_spark_ratio": round(local_rps / spark_rps, 3),
        "spark_per_core_reviews_per_s": round(per_core),
        "where_spark_time_goes": {
            "last_timed_run": stage_breakdown(log_dir, f"scoring-{reps}"),
            "cold_run": stage_breakdown(log_dir, "scoring-0"),
            "spark_read_write_parquet_no_python_s": round(floor_s, 2),
            "spark_job_fixed_cost_s": round(fixed_s, 2),
            "spark_reviews_per_s_beyond_the_fixed_cost": round(len(df) / max(spark_s - fixed_s, 1e-9)),
            "local_over_spark_ratio_beyond_the_fixed_cost": round((spark_s - fixed_s) / local_s, 3),
            "what": "summed over the run's tasks (2 run at once): Spark's task time and CPU, JVM GC,"
            " and its Python metrics (ms for times, bytes for data; a reused worker's initialisation"
            " counts its idle wait since its previous task); the floor is Spark reading and writing the"
            " same Parquet with no Python at all; the fixed cost is the best of three jobs of 1,000"
            " reviews, and the rate beyond it is the timed median's reviews over its time less that cost",
        },
        "projection": {
            "reviews": TARGET_REVIEWS,
            "within_seconds": TARGET_SECONDS,
            "executor_cores": -(-TARGET_REVIEWS // (TARGET_SECONDS * round(per_core))),
            "note": "an estimate from the per-core rate measured here on local[2]; not measured on a cluster",
        },
    }
