"""HTTP throughput and latency of our service against MLflow's scoring server, side by side.

Both serve the same registered model (``models:/sentiment@champion``; ours loads its export in
``models/export``) with the same number of worker processes, on loopback, and both get the same
load from wrk (same threads, connections, duration and request bodies: real test reviews of
median length, in rotation). Measured:

- single-review requests/s and latency (p50, p99): ours ``POST /v1/predict {"text": ...}``,
  MLflow's ``POST /invocations {"dataframe_split": ...}``; the ratio ours/MLflow;
- batch: ours with 100 real test reviews per request, in reviews/s;
- RSS and PSS per gunicorn worker after the load (the weights are preloaded in the master and
  shared copy-on-write, so PSS is the honest per-worker cost);
- process start to ready: from spawning ``sentiment serve`` to the first 200 from ``/readyz``.

wrk runs on the same machine as the servers and competes with them for the CPU; that is the same
for both, and the ratio is what matters.

    python bench/bench_serve.py [--duration 20] [--workers 2] [--out reports/bench/serve.json]

This file holds the benchmark itself (prerequisites, request bodies, the rounds, the figures);
beside it: ``servers.py`` (starting and stopping the servers), ``loadgen.py`` (wrk and its
output), ``memory.py`` (RSS and PSS from /proc) and ``serve_report.py`` (the printed table).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench_error import BenchError
from loadgen import WrkResult, run_wrk, write_bodies
from memory import master_and_workers_mb, tree_memory_mb
from sentiment_mlops.config import Paths, load_params, mlflow_tracking_uri
from sentiment_mlops.data.splits import read_split
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.processes import Supervised
from serve_report import print_table
from servers import bare_flask, mlflow_server, ours, running

BATCH_SIZE = 100
TARGETS = {
    "ratio_vs_mlflow": 8.0,
    "batch_reviews_per_s": 15_000,
    "rss_mb_per_worker": 200,
    "start_to_ready_s": 3,
}
NOTE = (
    "wrk runs on the same machine as the servers and competes with them for the CPU "
    "(the same for both servers): absolute figures are a floor for a pod with its own cores; "
    "the ratio is the comparison."
)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- prerequisites --------------------------------------------------------------------------------


def check_prerequisites(paths: Paths) -> tuple[str, str]:
    """wrk, the export and the registered champion (the same model); return (wrk, model version)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed: apt-get install -y wrk")
    card_path = paths.export_dir / "card.json"
    if not card_path.is_file():
        raise BenchError(f"no exported model at {paths.export_dir}: run `make repro` (it ends with export)")
    exported = json.loads(card_path.read_text())["version"]

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name = load_params().registry.model_name
    client = MlflowClient(tracking_uri=mlflow_tracking_uri(paths))
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except MlflowException as exc:
        raise BenchError(
            f"no registered model {name}@champion in {mlflow_tracking_uri(paths)}: "
            f"run `make repro` (register + promote) ({exc.message})"
        ) from None
    registered = champion.tags.get("model_version_hash")
    if registered != exported:
        raise BenchError(
            f"{paths.export_dir} holds model {exported} but {name}@champion is {registered}: "
            "run `sentiment export` so both servers score the same model"
        )
    return wrk, exported


def median_reviews(paths: Paths, n: int) -> list[str]:
    """``n`` test reviews whose length is nearest the median, half of each label."""
    test = read_split(paths, "test")
    length = test["text"].str.len()
    test = test.assign(gap=(length - length.median()).abs()).sort_values("gap", kind="stable")
    labels = sorted(test["label"].unique())
    firsts = [test.loc[test["label"] == label, "text"].tolist() for label in labels]
    counts = [n // len(labels) + (i < n % len(labels)) for i in range(len(labels))]
    return [t for texts, k in zip(firsts, counts, strict=True) for t in texts[:k]]


def batch_bodies(paths: Paths, count: int, seed: int = 0) -> list[list[str]]:
    """``count`` batches of ``BATCH_SIZE`` test reviews drawn at random (all lengths, as they come)."""
    texts = read_split(paths, "test")["text"].to_numpy()
    rng = np.random.default_rng(seed)
    return [rng.choice(texts, BATCH_SIZE, replace=False).tolist() for _ in range(count)]


def ours_body(text: str) -> dict[str, Any]:
    return {"text": text}


def mlflow_body(text: str) -> dict[str, Any]:
    return {"dataframe_split": {"columns": ["text"], "data": [[text]]}}


def check_same_predictions(our: Supervised, theirs: Supervised, reviews: list[str]) -> None:
    """Both servers must answer with real, identical predictions before they are timed."""
    for text in reviews:
        a = requests.post(our.url + "/v1/predict", json=ours_body(text), timeout=30)
        b = requests.post(theirs.url + "/invocations", json=mlflow_body(text), timeout=30)
        if a.status_code != 200 or b.status_code != 200:
            raise BenchError(
                f"prediction failed: ours {a.status_code} {a.text[:200]}, "
                f"mlflow {b.status_code} {b.text[:200]}"
            )
        mine = a.json()["predictions"][0]
        other = b.json()["predictions"][0]
        if mine["label"] != other["label"] or abs(mine["probability"] - other["probability"]) > 1e-6:
            raise BenchError(f"the servers disagree on a review: ours {mine}, mlflow {other}")


def check_batch(our: Supervised, batch: list[str]) -> None:
    r = requests.post(our.url + "/v1/predict", json={"texts": batch}, timeout=30)
    if r.status_code != 200 or len(r.json()["predictions"]) != len(batch):
        raise BenchError(f"batch prediction failed: {r.status_code} {r.text[:200]}")


# --- the benchmark --------------------------------------------------------------------------------


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    paths = Paths()
    wrk, model_version = check_prerequisites(paths)
    model_name = load_params().registry.model_name
    load_at_start = loadavg()
    print(f"load average at start: {load_at_start} on {os.cpu_count()} CPUs", flush=True)

    reviews = median_reviews(paths, args.reviews)
    batches = batch_bodies(paths, args.batches)
    single_ours = write_bodies(workdir / "single-ours.jsonl", [ours_body(t) for t in reviews])
    single_mlflow = write_bodies(workdir / "single-mlflow.jsonl", [mlflow_body(t) for t in reviews])
    batch_ours = write_bodies(workdir / "batch-ours.jsonl", [{"texts": b} for b in batches])

    # process start to ready: fresh servers, started and stopped one after the other
    starts = []
    for i in range(args.starts):
        server = ours(workdir, paths, args.workers, f"start{i}")
        with running(server):
            starts.append(server.start_to_ready_s)
        print(f"  start to ready #{i + 1}: {starts[-1]:.2f} s", flush=True)

    def load(url: str, bodies: Path, label: str) -> WrkResult:
        run_wrk(wrk, url, bodies, args.threads, args.connections, args.warmup)
        result = run_wrk(wrk, url, bodies, args.threads, args.connections, args.duration)
        print(
            f"  {label}: {result.rps:,.0f} requests/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms",
            flush=True,
        )
        return result

    our = ours(workdir, paths, args.workers, "load")
    theirs = mlflow_server(workdir, paths, model_name, args.workers)
    bare = bare_flask(workdir, args.workers)
    with (
        running(our),
        running(theirs),
        running(bare) if args.reference else nullcontext(bare),
    ):
        print(
            f"mlflow models serve ready in {theirs.start_to_ready_s:.1f} s; checking predictions agree",
            flush=True,
        )
        check_same_predictions(our, theirs, reviews)
        check_batch(our, batches[0])
        idle = {"ours": tree_memory_mb(our), "mlflow": tree_memory_mb(theirs)}
        print(
            f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s "
            f"(each after a {args.warmup} s warm-up)",
            flush=True,
        )
        rounds: dict[str, list[WrkResult]] = {"ours_single": [], "mlflow_single": [], "ours_batch": []}
        if args.reference:
            rounds["bare_flask_single"] = []
        for i in range(args.rounds):
            print(f" round {i + 1} of {args.rounds}", flush=True)
            rounds["ours_single"].append(load(our.url + "/v1/predict", single_ours, "ours, single review"))
            rounds["mlflow_single"].append(
                load(theirs.url + "/invocations", single_mlflow, "mlflow, single review")
            )
            rounds["ours_batch"].append(
                load(our.url + "/v1/predict", batch_ours, f"ours, {BATCH_SIZE} reviews per request")
            )
            if args.reference:
                rounds["bare_flask_single"].append(
                    load(bare.url + "/v1/predict", single_ours, "bare Flask (no work), single review")
                )
        single, baseline, batch = (
            WrkResult.median(rounds[k]) for k in ("ours_single", "mlflow_single", "ours_batch")
        )
        reference = WrkResult.median(rounds["bare_flask_single"]) if args.reference else None
        master, per_worker = master_and_workers_mb(our)
        loaded = {"ours": tree_memory_mb(our), "mlflow": tree_memory_mb(theirs)}

    return {
        "rps": round(single.rps, 1),
        "mlflow_rps": round(baseline.rps, 1),
        "ratio_vs_mlflow": round(single.rps / baseline.rps, 2),
        "p50_ms": round(single.p50_ms, 3),
        "p99_ms": round(single.p99_ms, 3),
        "mlflow_p50_ms": round(baseline.p50_ms, 3),
        "mlflow_p99_ms": round(baseline.p99_ms, 3),
        "batch_size": BATCH_SIZE,
        "batch_rps": round(batch.rps, 1),
        "batch_reviews_per_s": round(batch.rps * BATCH_SIZE),
        "batch_p50_ms": round(batch.p50_ms, 3),
        "batch_p99_ms": round(batch.p99_ms, 3),
        "rss_mb_per_worker": max(w["rss_mb"] for w in per_worker),
        "pss_mb_per_worker": max(w["pss_mb"] for w in per_worker),
        "workers_memory_mb": per_worker,
        "master_memory_mb": master,
        "server_memory_mb": {"idle": idle, "after_load": loaded},
        "start_to_ready_s": round(statistics.median(starts), 2),
        "start_to_ready_runs_s": [round(s, 2) for s in starts],
        "mlflow_start_to_ready_s": round(theirs.start_to_ready_s, 2),
        "workers": args.workers,
        "model_version": model_version,
        "single_reviews": len(reviews),
        "single_review_chars": [len(t) for t in reviews],
        "batch_review_chars_mean": round(float(np.mean([len(t) for b in batches for t in b]))),
        "bare_flask_rps": round(reference.rps, 1) if reference else None,
        "share_of_bare_flask": round(single.rps / reference.rps, 3) if reference else None,
        "rounds": args.rounds,
        "wrk_rounds": {k: [r.summary() for r in runs] for k, runs in rounds.items()},
        "command": shlex.join(["python", "bench/bench_serve.py", *sys.argv[1:]]),  # what wrote this report
        "commands": {
            "ours_server": shlex.join(our.argv),
            "mlflow_server": shlex.join(theirs.argv),
            "ours_single": single.command,
            "mlflow_single": baseline.command,
            "ours_batch": batch.command,
            "bare_flask_server": shlex.join(bare.argv) if reference else None,
            "bare_flask_single": reference.command if reference else None,
            "warmup": f"the same wrk command with -d{args.warmup}s, just before each",
            "bodies": (
                f"single: the {len(reviews)} test reviews nearest the median length, half of each label, "
                f"one per line; batch: {args.batches} bodies of {BATCH_SIZE} test reviews drawn at random "
                "(numpy seed 0); written by this script to a temporary folder"
            ),
        },
        "loadavg_start": load_at_start,
        "loadavg_end": loadavg(),
        "cpus": os.cpu_count(),
        "note": NOTE,
        "targets": TARGETS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before each measurement")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of each server")
    parser.add_argument("--reviews", type=int, default=8, help="median-length reviews in rotation")
    parser.add_argument("--batches", type=int, default=4, help="batch bodies in rotation")
    parser.add_argument("--starts", type=int, default=3, help="cold starts timed (median reported)")
    parser.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="skip the bare Flask app (the ceiling of any Flask service on this machine)",
    )
    parser.add_argument("--out", type=Path, default=None, help="default: reports/bench/serve.json")
    args = parser.parse_args()
    if (
        min(
            args.duration,
            args.rounds,
            args.warmup,
            args.threads,
            args.workers,
            args.reviews,
            args.batches,
            args.starts,
        )
        < 1
    ):
        parser.error("every count and duration must be at least 1")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads (wrk's rule)")
    out = args.out or Paths().reports / "bench" / "serve.json"
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        try:
            report = measure(args, Path(tmp))
        except BenchError as exc:
            sys.exit(f"error: {exc}")
    atomic_write_json(out, report)
    print_table(report)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
