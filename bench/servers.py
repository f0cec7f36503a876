"""Server lifecycle for the serving benchmark: each server in its own process group, started,
timed to its first 200 and stopped with everything it forked; how each of the three is launched.

Kept apart from the load and the report so that it can later call a shared process supervisor.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import requests

from bench_error import BenchError
from sentiment_mlops.config import Paths, mlflow_tracking_uri

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
