"""The API image: its size, its start-to-ready time, and its latency against the same service on the host.

Side by side in one run: the image (podman, host network, read-only root, as Kubernetes runs it)
and the same model served by the same gunicorn configuration straight from the project's
virtualenv, each loaded by the same wrk script (one review of median length per POST): 2 threads
and 16 connections, then one connection (one request at a time), 10 s per run, alternating
host/container/container/host so that drift on the machine hits both alike. Both sides use the
same worker count, log level and compiled kernels.

    python bench/bench_container.py [--image sentiment-api:<version>] [--out reports/bench/container.json]

Needs the image (`make image`) and wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from sentiment_mlops import __version__
from sentiment_mlops.config import Paths
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = ["-m", "gunicorn", "--config", "python:sentiment_mlops.serving.gunicorn_conf"]
WSGI_APP = "sentiment_mlops.serving.wsgi:build_app()"
EXTRA_RUN_FLAGS = shlex.split(os.environ.get("BENCH_PODMAN_RUN_FLAGS", ""))  # diagnostics only
# Prints wrk's own summary as one JSON line (latencies in microseconds).
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BENCH_BODY_FILE"), "r"):read("*a")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "mean_us": %.1f, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""
FALLBACK_REVIEW = (
    "I went in expecting very little and came out pleasantly surprised. The story is simple, a "
    "retired teacher who takes in a runaway, but the script never reaches for easy sentiment. The "
    "two leads have real chemistry and the quiet scenes in the kitchen are the best in the film. "
    "It sags a little in the middle, and the score is too insistent, yet the ending earns its tears."
)


def container_env(shared: Path) -> dict[str, str]:
    """The environment after sourcing ../shared/tools/container-env.sh (podman + runc)."""
    script = shared / "tools" / "container-env.sh"
    out = subprocess.run(
        ["bash", "-c", f"source {shlex.quote(str(script))} >&2 && env -0"], capture_output=True, check=True
    )
    return dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)


def median_review(paths: Paths) -> str:
    """A test review of median length (what the service mostly sees), or a built-in one."""
    test = paths.root / "data" / "processed" / "test.parquet"
    if not test.is_file():
        return FALLBACK_REVIEW
    import pandas as pd

    texts = pd.read_parquet(test, columns=["text"])["text"]
    lengths = texts.str.len()
    return str(texts.iloc[int((lengths - lengths.median()).abs().argmin())])


def ready_version(url: str, timeout: float, proc: subprocess.Popen | None = None) -> str:
    """Poll /readyz until 200; return the model version it reports."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            sys.exit(f"error: bench-container: the server exited with {proc.returncode} before ready")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:
                return str(json.load(response)["model"]["version"])
        except OSError:
            time.sleep(0.02)
    sys.exit(f"error: bench-container: {url}/readyz not ready within {timeout} s")


class Podman:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.flags = shlex.split(env.get("CONTAINER_RUNTIME_FLAGS", ""))

    def __call__(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            ["podman", *self.flags, *args], env=self.env, capture_output=True, text=True, check=False
        )
        if check and out.returncode != 0:
            sys.exit(f"error: bench-container: podman {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout.strip()

    def exists(self, image: str) -> bool:
        return subprocess.run(["podman", "image", "exists", image], env=self.env, check=False).returncode == 0

    def run_api(self, image: str, name: str, port: int, workers: int, log_level: str) -> None:
        self.remove(name)
        self(
            "run", "--detach", "--name", name, "--network=host",
            "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp", "--tmpfs", "/var/run/prometheus",
            # the prediction log's folder (the image's SENTIMENT_PREDICTION_LOG): both sides log
            "--tmpfs", "/var/lib/sentiment/prediction-log",
            "--env", f"GUNICORN_BIND=127.0.0.1:{port}", "--env", f"GUNICORN_WORKERS={workers}",
            "--env", f"LOG_LEVEL={log_level}", *EXTRA_RUN_FLAGS, image,
        )  # fmt: skip

    def remove(self, name: str) -> None:
        self("rm", "--force", "--time", "10", name, check=False)


def wrk(url: str, body_file: Path, script: Path, threads: int, connections: int, seconds: int) -> dict:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"{url}/v1/predict"],
        env={**os.environ, "BENCH_BODY_FILE": str(body_file)},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    result["requests_per_s"] = result["requests"] / (result["duration_us"] / 1e6)
    if result["errors"]:
        sys.exit(f"error: bench-container: {result['errors']} failed requests against {url}:\n{out.stdout}")
    return result


def summarise(runs: list[dict]) -> dict[str, float]:
    keys = ("requests_per_s", "mean_us", "p50_us", "p90_us", "p99_us")
    return {key: round(statistics.median(run[key] for run in runs), 1) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", default=f"sentiment-api:{__version__}")
    parser.add_argument("--model-dir", type=Path, default=None, help="host side; default: models/export")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both sides")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="host/container pairs of wrk runs")
    parser.add_argument("--log-level", default="INFO", help="both sides (INFO: one JSON line per request)")
    parser.add_argument("--starts", type=int, default=3, help="container starts timed")
    parser.add_argument("--out", type=Path, default=None, help="default: reports/bench/container.json")
    args = parser.parse_args()
    paths = Paths()
    model_dir = args.model_dir or paths.root / "models" / "export"
    if not (model_dir / "card.json").is_file():
        sys.exit(f"error: bench-container: {model_dir} is not a model directory (run `sentiment export`)")
    if shutil.which("wrk") is None:
        sys.exit("error: bench-container: wrk is missing (apt-get install wrk)")
    shared = Path(os.environ.get("SENTIMENT_SHARED_DIR", paths.root.parent / "shared"))
    podman = Podman(container_env(shared))
    if not podman.exists(args.image):
        sys.exit(f"error: bench-container: no image {args.image} (run `make image`)")
    size_mb = int(podman("image", "inspect", "--format", "{{.Size}}", args.image)) / 1e6
    print(f"image {args.image}: {size_mb:.1f} MB uncompressed")

    name = f"sentiment-bench-{os.getpid()}"
    starts = []
    for _ in range(args.starts):
        port = free_port()
        started = time.perf_counter()
        podman.run_api(args.image, name, port, args.workers, args.log_level)
        container_version = ready_version(f"http://127.0.0.1:{port}", 60)
        starts.append(time.perf_counter() - started)
        podman.remove(name)
    print(f"start to ready: median {statistics.median(starts):.2f} s of {[round(s, 2) for s in starts]}")

    review = median_review(paths)
    load_before = os.getloadavg()[0]
    # "loaded": the figures the cluster sizing uses; "one at a time": one review, no queueing.
    loads = {"loaded": (args.threads, args.connections), "one at a time": (1, 1)}
    with tempfile.TemporaryDirectory(prefix="bench-container-") as tmp:
        body, script = Path(tmp) / "body.json", Path(tmp) / "predict.lua"
        body.write_text(json.dumps({"text": review}))
        script.write_text(WRK_SCRIPT)
        host_port, box_port = free_port(), free_port()
        metrics = Path(tmp) / "metrics"
        host_env = {
            **os.environ,
            "SENTIMENT_MODEL_URI": str(model_dir),
            "SENTIMENT_KERNELS": "compiled",
            "GUNICORN_BIND": f"127.0.0.1:{host_port}",
            "GUNICORN_WORKERS": str(args.workers),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "LOG_LEVEL": args.log_level,
        }
        # The host's log lines go to a file, as the container's go to podman's log file.
        host_log = (Path(tmp) / "host.log").open("w")
        host = subprocess.Popen([sys.executable, *GUNICORN, WSGI_APP], env=host_env, stderr=host_log, cwd=tmp)
        try:
            podman.run_api(args.image, name, box_port, args.workers, args.log_level)
            host_url, box_url = f"http://127.0.0.1:{host_port}", f"http://127.0.0.1:{box_port}"
            host_version = ready_version(host_url, 60, host)
            container_version = ready_version(box_url, 60)
            if host_version != container_version:
                sys.exit(
                    f"error: bench-container: the host serves model {host_version}, the image "
                    f"{container_version}: rebuild the image from {model_dir}"
                )
            for url in (host_url, box_url):  # warm-up, not recorded
                wrk(url, body, script, args.threads, args.connections, 2)
            runs: dict[str, dict[str, list[dict]]] = {load: {"host": [], "container": []} for load in loads}
            for load, (threads, connections) in loads.items():
                print(f"{load}: wrk {threads} threads, {connections} connections, {args.seconds} s per run")
                for i in range(args.rounds):
                    order = ("host", "container") if i % 2 == 0 else ("container", "host")
                    for side in order:
                        url = host_url if side == "host" else box_url
                        last = wrk(url, body, script, threads, connections, args.seconds)
                        runs[load][side].append(last)
                        print(
                            f"  {side:9s} {last['requests_per_s']:8.1f} req/s  "
                            f"p50 {last['p50_us'] / 1000:.2f} ms  p99 {last['p99_us'] / 1000:.2f} ms"
                        )
        finally:
            podman.remove(name)
            host.terminate()
            host.wait(timeout=30)
            host_log.close()

    results = {}
    for load, (threads, connections) in loads.items():
        host_s, box_s = summarise(runs[load]["host"]), summarise(runs[load]["container"])
        results[load] = {
            "wrk_threads": threads,
            "wrk_connections": connections,
            "host": host_s,
            "container": box_s,
            "container_over_host": {
                "p50_latency": round(box_s["p50_us"] / host_s["p50_us"], 3),
                "p99_latency": round(box_s["p99_us"] / host_s["p99_us"], 3),
                "throughput": round(box_s["requests_per_s"] / host_s["requests_per_s"], 3),
            },
        }
    report = {
        "image": args.image,
        "image_size_mb": round(size_mb, 1),
        "start_to_ready_s": {
            "median": round(statistics.median(starts), 3),
            "runs": [round(s, 3) for s in starts],
        },
        "model_version": container_version,
        "setup": {
            "tool": "wrk",
            "seconds_per_run": args.seconds,
            "rounds": args.rounds,
            "review_chars": len(review),
            "gunicorn_workers": args.workers,
            "log_level": args.log_level,
            "cpus": os.cpu_count(),
            # Other work on the machine skews both sides; the alternation spreads it, this shows it.
            "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            "container": "podman, host network, read-only root, no CPU or memory limit",
        },
        "loads": results,
    }
    print(f"image {size_mb:.1f} MB, start to ready {statistics.median(starts):.2f} s (median)")
    print(f"{'':28s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for load, result in results.items():
        for side in ("host", "container"):
            r = result[side]
            print(
                f"{load + ' ' + side:28s} {r['requests_per_s']:9.1f} "
                f"{r['p50_us'] / 1000:8.2f} {r['p99_us'] / 1000:8.2f}"
            )
        ratio = result["container_over_host"]
        print(
            f"{load}: container/host p50 latency x{ratio['p50_latency']}, p99 x{ratio['p99_latency']}, "
            f"throughput x{ratio['throughput']} (target: latency within 10%)"
        )
    out = args.out or paths.root / "reports" / "bench" / "container.json"
    atomic_write_json(out, report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
