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
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import requests

from sentiment_mlops.config import Paths, load_params, mlflow_tracking_uri
from sentiment_mlops.data.splits import read_split
from sentiment_mlops.files import atomic_write_json

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "wrk_post.lua"
BIN = Path(sys.executable).parent
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


class BenchError(RuntimeError):
    """A prerequisite is missing or a server misbehaves; the message says which."""


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    command: str

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "command"}

    @classmethod
    def median(cls, runs: list[WrkResult]) -> WrkResult:
        """Field by field median of rounds (rounds interleave the servers, so both see the same
        swings of the machine's load)."""
        fields = {
            k: statistics.median(getattr(r, k) for r in runs)
            for k in ("rps", "p50_ms", "p75_ms", "p90_ms", "p99_ms")
        }
        return cls(
            **fields,
            requests=sum(r.requests for r in runs),
            non_2xx=sum(r.non_2xx for r in runs),
            socket_errors=sum(r.socket_errors for r in runs),
            command=runs[0].command,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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


# --- servers --------------------------------------------------------------------------------------


class Server:
    """A server in its own process group (so every process it forks is stopped with it)."""

    def __init__(self, name: str, argv: list[str], url: str, ready_path: str, log_path: Path) -> None:
        self.name, self.argv, self.url, self.ready_path, self.log_path = name, argv, url, ready_path, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_to_ready_s = float("nan")

    def start(self, env: dict[str, str], timeout: float = 120.0) -> float:
        """Spawn and wait for the first 200 from the readiness path; seconds from spawn to ready."""
        with self.log_path.open("ab") as log:
            started = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        session = requests.Session()
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if session.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    self.start_to_ready_s = time.perf_counter() - started
                    return self.start_to_ready_s
            except requests.RequestException:
                pass
            time.sleep(0.01)
        raise BenchError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def processes(self) -> list[psutil.Process]:
        """The spawned process and all its descendants."""
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the whole group, SIGKILL to whatever is left after ``timeout``."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers (workers of a dead master)
        self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running(server: Server, env: dict[str, str]) -> Iterator[Server]:
    try:
        server.start(env)
        yield server
    finally:
        server.stop()


def ours(workdir: Path, paths: Paths, workers: int, tag: str) -> Server:
    port = free_port()
    argv = [
        str(BIN / "sentiment"),
        "serve",
        "--model-uri",
        str(paths.export_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return Server("sentiment serve", argv, f"http://127.0.0.1:{port}", "/readyz", workdir / f"ours-{tag}.log")


def ours_env(workdir: Path) -> dict[str, str]:
    # the service logs one JSON line per request; at thousands of requests/s that goes to a file
    metrics_dir = tempfile.mkdtemp(prefix="prometheus-", dir=workdir)
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}


def bare_flask(workdir: Path, workers: int) -> Server:
    """The reference: a Flask app that does no work (bench/bare_app.py) under the same gunicorn."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--chdir",
        str(HERE),
        "bare_app:app",
    ]
    return Server("bare Flask", argv, f"http://127.0.0.1:{port}", "/healthz", workdir / "bare.log")


def mlflow_server(workdir: Path, model_name: str, workers: int) -> Server:
    port = free_port()
    argv = [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/{model_name}@champion",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workers),
    ]
    return Server("mlflow models serve", argv, f"http://127.0.0.1:{port}", "/ping", workdir / "mlflow.log")


def mlflow_env(paths: Paths) -> dict[str, str]:
    # mlflow execs ``uvicorn`` by name: the virtualenv's bin must be on PATH
    path = os.pathsep.join([str(BIN), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": mlflow_tracking_uri(paths)}


def ours_body(text: str) -> dict[str, Any]:
    return {"text": text}


def mlflow_body(text: str) -> dict[str, Any]:
    return {"dataframe_split": {"columns": ["text"], "data": [[text]]}}


def check_same_predictions(our: Server, theirs: Server, reviews: list[str]) -> None:
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


def check_batch(our: Server, batch: list[str]) -> None:
    r = requests.post(our.url + "/v1/predict", json={"texts": batch}, timeout=30)
    if r.status_code != 200 or len(r.json()["predictions"]) != len(batch):
        raise BenchError(f"batch prediction failed: {r.status_code} {r.text[:200]}")


# --- wrk ------------------------------------------------------------------------------------------

_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT_MS[unit]


def parse_wrk(output: str, command: str) -> WrkResult:
    """Requests/s, latency percentiles, errors from wrk's ``--latency`` output."""
    pct = {int(p): _ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+([\d.]+[a-z]+)\s*$", output, re.M)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None or not {50, 75, 90, 99} <= pct.keys():
        raise BenchError(f"cannot parse wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        rps=float(rps[1]),
        p50_ms=pct[50],
        p75_ms=pct[75],
        p90_ms=pct[90],
        p99_ms=pct[99],
        requests=int(total[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(x) for x in sock.groups()) if sock else 0,
        command=command,
    )


def run_wrk(wrk: str, url: str, bodies: Path, threads: int, connections: int, seconds: int) -> WrkResult:
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(bodies),
    ]
    out = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    result = parse_wrk(out.stdout, shlex.join(argv))
    if result.non_2xx or result.socket_errors:
        raise BenchError(
            f"{url}: {result.non_2xx} non-2xx responses, {result.socket_errors} socket errors:\n{out.stdout}"
        )
    return result


def write_bodies(path: Path, bodies: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(b) + "\n" for b in bodies))  # json.dumps escapes newlines
    return path


# --- memory ---------------------------------------------------------------------------------------


def _kb(path: str, field: str) -> float:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path(path).read_text(), re.M)
    return int(match[1]) / 1024 if match else float("nan")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and PSS of one process, in MB."""
    return {
        "rss_mb": round(_kb(f"/proc/{pid}/status", "VmRSS"), 1),
        "pss_mb": round(_kb(f"/proc/{pid}/smaps_rollup", "Pss"), 1),
    }


def tree_memory_mb(server: Server) -> dict[str, float]:
    """Total RSS and PSS of a server's whole process tree (PSS adds up; RSS double-counts sharing)."""
    total = {"rss_mb": 0.0, "pss_mb": 0.0}
    for proc in server.processes():
        try:
            for k, v in memory_mb(proc.pid).items():
                total[k] += v
        except (FileNotFoundError, ProcessLookupError):
            continue
    return {k: round(v, 1) for k, v in total.items()}


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
        with running(server, ours_env(workdir)):
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
    theirs = mlflow_server(workdir, model_name, args.workers)
    bare = bare_flask(workdir, args.workers)
    with (
        running(our, ours_env(workdir)),
        running(theirs, mlflow_env(paths)),
        running(bare, dict(os.environ)) if args.reference else nullcontext(bare),
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
        assert our.proc is not None
        workers = [p for p in psutil.Process(our.proc.pid).children() if p.status() != psutil.STATUS_ZOMBIE]
        per_worker = [memory_mb(p.pid) for p in workers]
        master = memory_mb(our.proc.pid)
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


def print_table(r: dict[str, Any]) -> None:
    rows = [
        (
            "single review, requests/s",
            f"{r['rps']:,.0f}",
            f"{r['mlflow_rps']:,.0f}",
            f"{r['ratio_vs_mlflow']:.1f}x (target >= 8x)",
        ),
        ("single review, p50 ms", f"{r['p50_ms']:.2f}", f"{r['mlflow_p50_ms']:.2f}", ""),
        ("single review, p99 ms", f"{r['p99_ms']:.2f}", f"{r['mlflow_p99_ms']:.2f}", "lower is better"),
        (f"batch of {r['batch_size']}, reviews/s", f"{r['batch_reviews_per_s']:,}", "", "target >= 15,000"),
        (
            "RSS per worker, MB",
            f"{r['rss_mb_per_worker']:.0f}",
            "",
            f"PSS {r['pss_mb_per_worker']:.0f} (target RSS <= 200)",
        ),
        (
            "all processes, PSS MB",
            f"{r['server_memory_mb']['after_load']['ours']['pss_mb']:.0f}",
            f"{r['server_memory_mb']['after_load']['mlflow']['pss_mb']:.0f}",
            "after the load",
        ),
        (
            "start to ready, s",
            f"{r['start_to_ready_s']:.2f}",
            f"{r['mlflow_start_to_ready_s']:.2f}",
            "target <= 3 (median of runs)",
        ),
    ]
    if r["bare_flask_rps"]:
        rows.insert(
            1,
            (
                "  bare Flask (no work), req/s",
                f"{r['bare_flask_rps']:,.0f}",
                "",
                f"ours is {100 * r['share_of_bare_flask']:.0f}% of this ceiling",
            ),
        )
    print(f"\n{'':30} {'ours':>10} {'mlflow':>10}  ")
    for name, a, b, c in rows:
        print(f"{name:30} {a:>10} {b:>10}  {c}")
    print(f"\nload average: {r['loadavg_start']} at start, {r['loadavg_end']} at end ({r['cpus']} CPUs)")
    print(r["note"])


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
