"""The prediction log when a worker is SIGKILLed under load: how many served predictions it loses
(at most the queue bound, the rows not yet in a finished segment), and that every segment written
reads back whole.

Each trial starts ``sentiment serve`` on the export with the log on (``--workers`` workers,
``SENTIMENT_PREDICTION_LOG_QUEUE`` = ``--bound``), loads ``/v1/predict`` with wrk (real test reviews
of median length), SIGKILLs one worker half-way through, lets wrk finish (gunicorn forks a
replacement), reads the counters, then stops the server (SIGTERM: the other workers drain). Then:

- served: reviews scored, from the service's ``model_prediction_count_total`` (the killed worker's
  samples stay in the metrics folder); the client side's count (wrk's completed requests, one
  review each) is reported beside it: it misses the requests the kill cut off after scoring;
- dropped: ``prediction_log_dropped_total`` (a full buffer or a failed write);
- logged: rows in the finished segments, each read back with pyarrow;
- lost = served - logged - dropped, which must be at most the bound.

    python bench/bench_log_kill.py [--kills 3] [--duration 16] [--workers 2] [--bound 10000]
        [--out reports/bench/prediction_log_kill.json]
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench_error import BenchError
from loadgen import parse_wrk, write_bodies, wrk_argv
from sentiment_mlops.config import Paths
from sentiment_mlops.data.log_format import PREDICTIONS
from sentiment_mlops.files import atomic_write_json
from serve_inputs import check_prerequisites, median_reviews, ours_body
from servers import ours, running, scrape


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def read_back(log_dir: Path) -> dict[str, Any]:
    """Every finished segment read whole with pyarrow; the rows, per worker pid too."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, by_pid, unreadable = 0, {}, []
    segments = [p for p in log_dir.rglob("*.parquet") if not p.name.startswith(".")]
    for segment in segments:
        try:
            n = pq.read_table(segment).num_rows
        except (OSError, pa.ArrowException) as exc:
            unreadable.append(f"{segment.name}: {exc}")
            continue
        rows += n
        pid = segment.name.split("-")[-3]  # part-<time>-<host>-<pid>-<id>-<seq>.parquet
        by_pid[pid] = by_pid.get(pid, 0) + n
    leftovers = [p.name for p in log_dir.rglob(".*") if p.is_file()]  # a write the kill cut short
    return {
        "logged": rows,
        "segments": len(segments),
        "unreadable": unreadable,
        "by_pid": by_pid,
        "hidden_leftovers": len(leftovers),
    }


def trial(i: int, args: argparse.Namespace, workdir: Path, wrk: str, bodies: Path) -> dict[str, Any]:
    paths = Paths()
    log_dir = workdir / f"log-{i}"
    server = ours(workdir, paths, args.workers, f"kill-{i}", prediction_log=log_dir)
    server.env["SENTIMENT_PREDICTION_LOG_QUEUE"] = str(args.bound)
    load_start = loadavg()
    with running(server):
        argv = wrk_argv(
            wrk, server.url + "/v1/predict", bodies, args.threads, args.connections, args.duration
        )
        load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(args.duration / 2)
        workers = psutil.Process(server.pid).children()
        if len(workers) != args.workers:
            raise BenchError(f"expected {args.workers} workers, found {len(workers)}")
        victim = workers[i % len(workers)].pid
        os.kill(victim, signal.SIGKILL)
        out, err = load.communicate(timeout=args.duration + 60)
        if load.returncode != 0:
            raise BenchError(f"wrk failed ({load.returncode}): {err or out}")
        client = parse_wrk(out, shlex.join(argv))
        if client.non_2xx:
            raise BenchError(f"{client.non_2xx} non-2xx answers: a kill must cost connections, not errors")
        served = int(scrape(server.url, "model_prediction_count_total"))
        dropped = int(scrape(server.url, "prediction_log_dropped_total"))
    # stopped (SIGTERM): the surviving workers have written what they held
    back = read_back(log_dir / PREDICTIONS)
    lost = served - back["logged"] - dropped
    return {
        "victim_pid": victim,
        "served": served,
        "served_client": client.requests,
        "client_socket_errors": client.socket_errors,
        "rps": client.rps,
        "p99_ms": client.p99_ms,
        "dropped": dropped,
        "logged": back["logged"],
        "logged_by_victim": back["by_pid"].get(str(victim), 0),
        "lost": lost,
        "lost_client_side": client.requests - back["logged"] - dropped,
        "segments": back["segments"],
        "segments_unreadable": back["unreadable"],
        "hidden_leftovers": back["hidden_leftovers"],
        "ok": lost <= args.bound and not back["unreadable"],
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=3, help="trials, one SIGKILL each")
    parser.add_argument("--duration", type=int, default=16, help="seconds of load per trial")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--bound", type=int, default=10_000, help="the log's queue bound per worker")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: reports/bench/prediction_log_kill.json"
    )
    args = parser.parse_args()
    if min(args.kills, args.duration, args.workers, args.bound, args.threads) < 1:
        parser.error("every count and duration must be at least 1")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads (wrk's rule)")
    paths = Paths()
    try:
        wrk, model_version = check_prerequisites(paths)
    except BenchError as exc:
        sys.exit(f"error: {exc}")
    print(f"load average at start: {loadavg()} on {os.cpu_count()} CPUs", flush=True)
    trials = []
    with tempfile.TemporaryDirectory(prefix="bench-log-kill-") as tmp:
        workdir = Path(tmp)
        bodies = write_bodies(workdir / "single.jsonl", [ours_body(t) for t in median_reviews(paths, 8)])
        for i in range(args.kills):
            try:
                result = trial(i, args, workdir, wrk, bodies)
            except BenchError as exc:
                sys.exit(f"error: {exc}")
            trials.append(result)
            print(
                f"kill {i + 1}: served {result['served']:,} (client {result['served_client']:,}), "
                f"logged {result['logged']:,} in {result['segments']} segments "
                f"({len(result['segments_unreadable'])} unreadable), "
                f"dropped {result['dropped']}, lost {result['lost']:,} (bound {args.bound:,}); "
                f"load {result['loadavg_end']}",
                flush=True,
            )
    report = {
        "kills": trials,
        "bound": args.bound,
        "workers": args.workers,
        "duration_s": args.duration,
        "max_lost": max(t["lost"] for t in trials),
        # every kill lost at most the bound, and every segment read back
        "all_ok": all(t["ok"] for t in trials),
        "model_version": model_version,
        "cpus": os.cpu_count(),
        "command": shlex.join(["python", "bench/bench_log_kill.py", *sys.argv[1:]]),
    }
    out = args.out or paths.reports / "bench" / "prediction_log_kill.json"
    atomic_write_json(out, report)
    print(f"max lost {report['max_lost']:,} of a bound of {args.bound:,}; wrote {out}")
    if not report["all_ok"]:
        sys.exit("error: a kill lost more rows than the bound, or left a segment that does not read")


if __name__ == "__main__":
    main()
