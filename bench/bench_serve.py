"""HTTP throughput and latency of our service against MLflow's scoring server, side by side, and
what the prediction log and a shadow model cost our service.

All serve the same registered model (``models:/sentiment@champion``; ours loads its export in
``models/model``) with the same number of worker processes, on loopback, and all get the same load
from wrk (same threads, connections, duration and request bodies: real test reviews of median
length, in rotation). Measured:

- single-review requests/s and latency (p50, p99): ours ``POST /v1/predict {"text": ...}``,
  MLflow's ``POST /invocations {"dataframe_split": ...}``; the ratio ours/MLflow;
- ours with the prediction log on (``SENTIMENT_PREDICTION_LOG``) and ours with a shadow model
  (``SENTIMENT_SHADOW_MODEL_URI``: a copy of the same model), each against ours plain, round by
  round: the three run back to back in every round, in a rotating order, and the report gives the
  median of the per-round ratios; the log's rows dropped under the load, from ``/metrics``;
- batch: ours with 100 real test reviews per request, in reviews/s;
- RSS and PSS per gunicorn worker after the load (the weights are preloaded in the master and
  shared copy-on-write, so PSS is the honest per-worker cost);
- process start to ready: from spawning ``sentiment serve`` to the first 200 from ``/readyz``.

wrk runs on the same machine as the servers and competes with them for the CPU; that is the same
for all, and the ratios are what matter.

    python bench/bench_serve.py [--duration 20] [--rounds 3] [--workers 2] [--out reports/bench/serve.json]

This file holds the rounds; beside it: ``serve_inputs.py`` (prerequisites, request bodies, checks),
``servers.py`` (starting and stopping the servers), ``loadgen.py`` (wrk and its output),
``memory.py`` (RSS and PSS from /proc) and ``serve_report.py`` (figures and the printed table).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench_error import BenchError
from loadgen import WrkResult, run_wrk, write_bodies
from memory import master_and_workers_mb, tree_memory_mb
from sentiment_mlops.config import Paths, load_params
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.processes import Supervised
from serve_figures import figures
from serve_inputs import (
    BATCH_SIZE,
    batch_bodies,
    check_batch,
    check_prerequisites,
    check_same_predictions,
    median_reviews,
    mlflow_body,
    ours_body,
    shadow_model,
)
from serve_report import print_table
from servers import bare_flask, logged_rows, mlflow_server, ours, running, scrape

# the servers of the paired comparison: loaded back to back in every round, in a rotating order
PAIRED = ("ours_single", "ours_single_log", "ours_single_shadow")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def start_times(args: argparse.Namespace, workdir: Path, paths: Paths) -> list[float]:
    """Process start to ready: fresh servers, started and stopped one after the other."""
    starts = []
    for i in range(args.starts):
        server = ours(workdir, paths, args.workers, f"start{i}")
        with running(server):
            starts.append(server.start_to_ready_s)
        print(f"  start to ready #{i + 1}: {starts[-1]:.2f} s", flush=True)
    return starts


def check_shadow(server: Supervised) -> None:
    """The shadow must be loaded before its rounds count (a server that ignored it would look free)."""
    if scrape(server.url, "model_shadow_ready") < 1:
        raise BenchError(f"the shadow model did not load: see {server.log}")


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
    starts = start_times(args, workdir, paths)

    def load(url: str, bodies: Path, label: str) -> WrkResult:
        run_wrk(wrk, url, bodies, args.threads, args.connections, args.warmup)
        result = run_wrk(wrk, url, bodies, args.threads, args.connections, args.duration)
        print(
            f"  {label}: {result.rps:,.0f} requests/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms",
            flush=True,
        )
        return result

    log_dir = workdir / "prediction-log"
    servers: dict[str, Supervised] = {
        "ours": ours(workdir, paths, args.workers, "load"),
        # the same server with the prediction log on, and with a shadow model: their cost side by side
        "ours_log": ours(workdir, paths, args.workers, "load-log", prediction_log=log_dir),
        "mlflow": mlflow_server(workdir, paths, model_name, args.workers),
    }
    shadow_note = None
    if args.shadow:
        shadow_dir = shadow_model(paths, workdir)
        servers["ours_shadow"] = ours(workdir, paths, args.workers, "load-shadow", shadow=shadow_dir)
    else:
        shadow_note = "skipped (--no-shadow)"
    if args.reference:
        servers["bare"] = bare_flask(workdir, args.workers)
    targets: dict[str, tuple[str, Path, str]] = {
        "ours_single": ("ours", single_ours, "ours, single review"),
        "ours_single_log": ("ours_log", single_ours, "ours with the prediction log, single review"),
        "ours_single_shadow": ("ours_shadow", single_ours, "ours with a shadow model, single review"),
        "mlflow_single": ("mlflow", single_mlflow, "mlflow, single review"),
        "ours_batch": ("ours", batch_ours, f"ours, {BATCH_SIZE} reviews per request"),
        "bare_flask_single": ("bare", single_ours, "bare Flask (no work), single review"),
    }
    paths_of = {"mlflow": "/invocations"}
    with ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(running(server))
        our, theirs = servers["ours"], servers["mlflow"]
        print(f"mlflow models serve ready in {theirs.start_to_ready_s:.1f} s; checking predictions agree")
        check_same_predictions(our, theirs, reviews)
        check_batch(our, batches[0])
        if "ours_shadow" in servers:
            check_shadow(servers["ours_shadow"])
        idle = {"ours": tree_memory_mb(our), "mlflow": tree_memory_mb(theirs)}
        print(
            f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s "
            f"(each after a {args.warmup} s warm-up)",
            flush=True,
        )
        keys = [k for k in targets if targets[k][0] in servers]
        rounds: dict[str, list[WrkResult]] = {k: [] for k in keys}
        for i in range(args.rounds):
            print(f" round {i + 1} of {args.rounds}", flush=True)
            paired = [k for k in PAIRED if k in rounds]
            order = paired[i % len(paired) :] + paired[: i % len(paired)]
            for key in order + [k for k in keys if k not in PAIRED]:
                name, bodies, label = targets[key]
                url = servers[name].url + paths_of.get(name, "/v1/predict")
                rounds[key].append(load(url, bodies, label))
        memory = {
            "per_worker": master_and_workers_mb(our),
            "idle": idle,
            "after_load": {name: tree_memory_mb(s) for name, s in servers.items() if name != "bare"},
        }
        log_counts = {
            "served": int(scrape(servers["ours_log"].url, "model_prediction_count_total")),
            "dropped": int(scrape(servers["ours_log"].url, "prediction_log_dropped_total")),
        }
        shadow_counts = None
        if "ours_shadow" in servers:
            url = servers["ours_shadow"].url
            shadow_counts = {
                "served": int(scrape(url, "model_prediction_count_total")),
                "scored": int(scrape(url, "model_shadow_agreement_total")),
                "errors": int(scrape(url, "model_shadow_errors_total")),
            }
    # stopped (SIGTERM): the workers have drained their buffers into segments
    log_counts["logged"] = logged_rows(log_dir)
    return figures(
        args,
        rounds=rounds,
        servers=servers,
        starts=starts,
        memory=memory,
        log_counts=log_counts,
        shadow_counts=shadow_counts,
        shadow_note=shadow_note,
        reviews=reviews,
        batches=batches,
        model_version=model_version,
        loadavg_start=load_at_start,
        loadavg_end=loadavg(),
    )


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
    parser.add_argument(
        "--no-shadow", dest="shadow", action="store_false", help="skip the server with a shadow model"
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
