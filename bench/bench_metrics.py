"""Cost of the API's multiprocess metrics: scrape time after a million requests, and the sample
files when gunicorn recycles its workers.

1. Scrape time: the service under gunicorn with 4 workers; 50 sequential ``GET /metrics`` right
   after start, then ``wrk`` drives ``GET /healthz`` (cheap, so the load is on the server's request
   path and its counters, not on the model) until the app's own counter reaches 1,000,000, then 50
   scrapes again. Median and p99 printed side by side with their ratio.
2. Recycling: a fresh server with ``GUNICORN_MAX_REQUESTS`` (1,000 by default), so each worker is
   replaced after about a thousand requests; the files and bytes in ``PROMETHEUS_MULTIPROC_DIR``
   and the scrape time are measured before and after, against the number of workers that ran.

    python bench/bench_metrics.py [--requests 1000000] [--recycle-requests 100000]
                                  [--max-requests 1000] [--out reports/bench/metrics.json]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from sentiment_mlops.config import Paths
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.processes import Supervised, free_port
from sentiment_mlops.serving.commands import gunicorn_argv


class Server(Supervised):
    """gunicorn serving ``model_uri`` on a free loopback port with its own metrics folder."""

    def __init__(self, model_uri: Path, workdir: Path, workers: int, **env: str) -> None:
        self.port = free_port()
        url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = workdir / f"metrics-{self.port}"
        self.metrics_dir.mkdir(parents=True)
        server_env = {
            **os.environ,
            "SENTIMENT_MODEL_URI": str(model_uri),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "LOG_LEVEL": "WARNING",  # one access line per request would cost more than the request
            **env,
        }
        log_path = workdir / f"server-{self.port}.log"
        super().__init__("api", gunicorn_argv(), log_path, url=url, ready_url=f"{url}/readyz", env=server_env)

    def files(self) -> dict[str, int]:
        paths = list(self.metrics_dir.glob("*.db"))
        pids = {m[1] for p in paths if (m := re.search(r"_(\d+)\.db$", p.name))}
        return {
            "files": len(paths),
            "bytes": sum(p.stat().st_size for p in paths),
            "pids_with_files": len(pids),
        }


def scrape_times(url: str, n: int) -> dict[str, float]:
    """Wall time of ``n`` sequential scrapes, in milliseconds."""
    times = []
    session = requests.Session()
    for _ in range(n):
        started = time.perf_counter()
        response = session.get(f"{url}/metrics", timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
        "max_ms": round(times[-1], 3),
        "scrapes": n,
        "bytes": len(response.content),
    }


def render_cpu_times(metrics_dir: Path, n: int) -> dict[str, float]:
    """CPU time of merging the sample files into the exposition text, in this process (what a
    scrape costs the worker, without the queueing that other load on the machine adds)."""
    times = []
    for _ in range(n):
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(metrics_dir))
        started = time.process_time()
        generate_latest(registry)
        times.append((time.process_time() - started) * 1000)
    times.sort()
    return {
        "render_cpu_median_ms": round(statistics.median(times), 3),
        "render_cpu_p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
    }


def measure(server: Server, n: int) -> dict[str, Any]:
    return {
        **scrape_times(server.url, n),
        **render_cpu_times(server.metrics_dir, n),
        **server.files(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def healthz_count(url: str) -> int:
    text = requests.get(f"{url}/metrics", timeout=30).text
    return int(
        sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "app_request_count_total" and s.labels.get("endpoint") == "/healthz"
        )
    )


def drive(url: str, target: int, connections: int, chunk_seconds: int) -> dict[str, Any]:
    """``wrk`` on /healthz in chunks until the app has counted ``target`` requests."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    started = time.perf_counter()
    count = healthz_count(url)
    errors = 0
    rate: float | None = None
    while count < target:
        remaining = target - count
        # the first chunk measures the rate; later chunks are sized to land just past the target
        seconds = chunk_seconds if rate is None else max(2, min(chunk_seconds, int(remaining / rate) + 1))
        out = subprocess.run(
            [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", f"{url}/healthz"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors += int(m[1]) if m else 0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        errors += sum(int(x) for x in m.groups()) if m else 0
        count = healthz_count(url)
        if count == 0:
            raise SystemExit(f"the app counted no /healthz request; wrk said:\n{out}")
        rate = count / (time.perf_counter() - started)
        print(f"  {count:>9,} requests counted by the app, {rate:,.0f}/s", flush=True)
    elapsed = time.perf_counter() - started
    return {"requests": count, "seconds": round(elapsed, 1), "rate_per_s": round(count / elapsed, 1),
            "wrk_errors": errors}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", type=Path, default=None, help="default: models/export")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--recycle-requests", type=int, default=100_000)
    parser.add_argument("--max-requests", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None, help="default: reports/bench/metrics.json")
    args = parser.parse_args()
    paths = Paths()
    model_uri = (args.model_uri or paths.export_dir).resolve()
    if not (model_uri / "card.json").is_file():
        raise SystemExit(f"{model_uri} is not a model directory (run `sentiment export`)")

    result: dict[str, Any] = {"workers": args.workers, "model_uri": str(model_uri), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        work = Path(tmp)
        print(f"1. scrape time, {args.workers} workers, before and after {args.requests:,} requests")
        with Server(model_uri, work, args.workers) as server:
            # one predict so every family has samples, as in production
            requests.post(f"{server.url}/v1/predict", json={"text": "A fine film."}, timeout=30)
            fresh = measure(server, args.scrapes)
            load = drive(server.url, args.requests, args.connections, 60)
            loaded = measure(server, args.scrapes)
        result["scrape"] = {"fresh": fresh, "after_load": loaded, "load": load, "budget_ms": 10.0}

        print(f"2. recycling: GUNICORN_MAX_REQUESTS={args.max_requests}, {args.recycle_requests:,} requests")
        with Server(model_uri, work, args.workers, GUNICORN_MAX_REQUESTS=str(args.max_requests)) as server:
            requests.post(f"{server.url}/v1/predict", json={"text": "A fine film."}, timeout=30)
            before = measure(server, args.scrapes)
            load = drive(server.url, args.recycle_requests, args.connections, 20)
            after = measure(server, args.scrapes)
            log = server.log_path.read_text(errors="replace")
        recycled = len(re.findall(r"Autorestarting worker", log))
        result["recycle"] = {
            "max_requests": args.max_requests,
            "load": load,
            "workers_recycled": recycled,
            "before": before,
            "after": after,
            "files_per_recycled_worker": round((after["files"] - before["files"]) / max(recycled, 1), 2),
            "bounded": after["files"] <= before["files"] + 2 * args.workers,
        }

    s, r = result["scrape"], result["recycle"]
    print()
    print(f"{'':34}{'fresh':>12}{'after load':>14}{'ratio':>8}")
    for key in ("median_ms", "p99_ms", "render_cpu_median_ms", "render_cpu_p99_ms"):
        ratio = s["after_load"][key] / s["fresh"][key]
        print(f"scrape {key:<27}{s['fresh'][key]:>12.2f}{s['after_load'][key]:>14.2f}{ratio:>8.2f}")
    print(f"{'requests served':34}{'':>12}{s['load']['requests']:>14,}")
    print(f"{'files in PROMETHEUS_MULTIPROC_DIR':34}{s['fresh']['files']:>12}{s['after_load']['files']:>14}")
    loads = (s["fresh"]["load_average_1m"], s["after_load"]["load_average_1m"])
    print(f"{'load average (1 min)':34}{loads[0]:>12}{loads[1]:>14}")
    print()
    print(f"recycling ({r['workers_recycled']} workers recycled over {r['load']['requests']:,} requests)")
    print(f"{'':34}{'before':>12}{'after':>14}{'ratio':>8}")
    for key in ("files", "bytes", "pids_with_files", "median_ms", "p99_ms", "render_cpu_median_ms"):
        ratio = r["after"][key] / r["before"][key] if r["before"][key] else float("nan")
        print(f"{key:<34}{r['before'][key]:>12,.6g}{r['after'][key]:>14,.6g}{ratio:>8.2f}")
    print(f"files per recycled worker: {r['files_per_recycled_worker']}  bounded: {r['bounded']}")
    out = args.out or paths.reports / "bench" / "metrics.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
