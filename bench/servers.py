"""Server lifecycle for the serving benchmark: how each of the three servers is launched, and a
context that starts one, times it to its first 200 and stops it with everything it forked (the
project's process supervisor, :mod:`sentiment_mlops.processes`, does the work)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from bench_error import BenchError
from sentiment_mlops.config import SHADOW_MODEL_URI_ENV, Paths, mlflow_tracking_uri
from sentiment_mlops.processes import ProcessError, Supervised, free_port

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
READY_POLL_S = 0.01  # start to ready is a figure of the report: poll finely


@contextmanager
def running(server: Supervised) -> Iterator[Supervised]:
    """``server`` started and ready (``server.start_to_ready_s`` set), stopped on the way out."""
    server.start()
    try:
        try:
            server.wait_ready(poll=READY_POLL_S)
        except ProcessError as exc:
            raise BenchError(str(exc)) from None
        yield server
    finally:
        server.stop()


def _server(
    name: str, argv: list[str], port: int, ready_path: str, log: Path, env: dict[str, str]
) -> Supervised:
    url = f"http://127.0.0.1:{port}"
    return Supervised(name, argv, log, url=url, ready_url=url + ready_path, env=env)


def ours(
    workdir: Path,
    paths: Paths,
    workers: int,
    tag: str,
    prediction_log: Path | None = None,
    shadow: Path | None = None,
) -> Supervised:
    """``sentiment serve`` on the export, as a user starts it; ``prediction_log``: the folder it logs
    predictions to (else the log is off); ``shadow``: a second model scored beside it (else none)."""
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
    # the service logs one JSON line per request; at thousands of requests/s that goes to a file
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="prometheus-", dir=workdir),
        "SENTIMENT_PREDICTION_LOG": str(prediction_log) if prediction_log is not None else "off",
    }
    # a shadow model beside the served one, or none (whatever the caller's environment says)
    env[SHADOW_MODEL_URI_ENV] = str(shadow) if shadow is not None else ""
    return _server("sentiment serve", argv, port, "/readyz", workdir / f"ours-{tag}.log", env)


def bare_flask(workdir: Path, workers: int) -> Supervised:
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
    return _server("bare Flask", argv, port, "/healthz", workdir / "bare.log", dict(os.environ))


def mlflow_server(workdir: Path, paths: Paths, model_name: str, workers: int) -> Supervised:
    """``mlflow models serve`` on the registered champion, in this environment."""
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
    # mlflow execs ``uvicorn`` by name: the virtualenv's bin must be on PATH
    path = os.pathsep.join([str(BIN), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": mlflow_tracking_uri(paths)}
    return _server("mlflow models serve", argv, port, "/ping", workdir / "mlflow.log", env)


def scrape(url: str, name: str) -> float:
    """The sum of a metric's samples on ``url``/metrics."""
    text = requests.get(url + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def logged_rows(folder: Path) -> int:
    """Rows in the finished prediction-log segments under ``folder`` (every segment must read)."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in folder.rglob("*.parquet") if not p.name.startswith("."))
