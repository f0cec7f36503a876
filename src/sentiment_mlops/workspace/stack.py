"""``sentiment stack``: the service, Prometheus and the MLflow UI as local processes, for a laptop.

The API runs under gunicorn (as ``sentiment serve`` does), Prometheus (the ``prometheus`` binary,
e.g. Debian's package) scrapes it every 5 s with the project's rules loaded, and ``mlflow server``
shows the project's tracking store. Everything the stack writes goes to one run folder (``.run``):
the generated Prometheus configuration, Prometheus's TSDB, the API's multiprocess metric files and
one log file per process.

Each process runs in a session of its own, so a Ctrl-C in the terminal reaches only this command,
which then stops the three in order: SIGTERM to each process group, a bounded wait, SIGKILL for
whatever is left. If one of them exits on its own, the others are stopped and the command exits
with code 1, naming it and showing the end of its log.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from sentiment_mlops.config import (
    DEFAULT_HOST,
    DEFAULT_MODEL_URI,
    DEFAULT_PORT,
    MODEL_URI_ENV,
    ServerSettings,
)
from sentiment_mlops.processes import Supervised, port_in_use, stop_all

log = logging.getLogger(__name__)

SCRAPE_INTERVAL = "5s"


class StackError(RuntimeError):
    """A process of the stack failed: it exited early or never became ready."""


def _first_dead(children: list[Supervised]) -> Supervised | None:
    return next((c for c in children if c.exit_code() is not None), None)


def run_stack(
    children: list[Supervised],
    stop: threading.Event,
    ready_timeout: float = 180.0,
    echo: Callable[[str], Any] = print,
) -> None:
    """Start ``children``, wait until each answers, then until ``stop`` is set; always stop them all.

    Raises :class:`StackError` if a child exits on its own or is not ready in ``ready_timeout``.
    """
    try:
        for child in children:
            child.start()
            echo(f"starting {child.name:<10} {child.url}  (log: {child.log_path})")
        pending = list(children)
        deadline = time.monotonic() + ready_timeout
        while pending and not stop.is_set():
            dead = _first_dead(children)
            if dead is not None:
                raise StackError(str(dead.died()))
            pending = [c for c in pending if not c.is_ready()]
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise StackError(f"not ready after {ready_timeout:.0f} s: {names}")
            stop.wait(0.5)
        if not stop.is_set():
            echo("ready:")
            for child in children:
                echo(f"  {child.name:<10} {child.url}")
            echo("Ctrl-C stops everything.")
        while not stop.wait(0.5):
            dead = _first_dead(children)
            if dead is not None:
                raise StackError(str(dead.died()))
    finally:
        echo("stopping ...")
        stop_all(children)
        echo("stopped")


# --- building the stack ----------------------------------------------------------------------


def stack_prometheus_config(api_target: str, scrape_interval: str = SCRAPE_INTERVAL) -> str:
    """The project's prometheus.yml with the API's address, the absolute rules path, and only the
    API's job (the stack runs no predictive scaler; a dead target would only raise an alert)."""
    from sentiment_mlops.workspace.monitoring import prometheus_config
    from sentiment_mlops.workspace.repository import monitoring_paths

    paths = monitoring_paths()
    config = yaml.safe_load(prometheus_config(paths.prometheus_config, paths.rules, api_target=api_target))
    config["global"]["scrape_interval"] = scrape_interval
    config["global"]["evaluation_interval"] = scrape_interval
    config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] == "sentiment-api"]
    return yaml.safe_dump(config, sort_keys=False)


def _is_model_dir_or_uri(model_uri: str) -> bool:
    return model_uri.startswith(("models:/", "runs:/")) or (Path(model_uri) / "card.json").is_file()


def build_children(
    model_uri: str,
    run_dir: Path,
    host: str,
    api_port: int,
    prometheus_port: int,
    mlflow_port: int,
    workers: int | None,
    prometheus_bin: str,
) -> list[Supervised]:
    """The processes, their configuration written under ``run_dir`` (no MLflow UI when the tracking
    store is a remote server)."""
    from sentiment_mlops.config import Paths, mlflow_artifact_root, mlflow_tracking_uri
    from sentiment_mlops.files import atomic_write_text
    from sentiment_mlops.serving.commands import gunicorn_argv

    logs = run_dir / "logs"
    metrics_dir = run_dir / "api-metrics"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    base = ServerSettings.from_env()
    # a laptop stack: drain quickly on Ctrl-C
    server = replace(base, bind=f"{host}:{api_port}", workers=workers or base.workers, graceful_timeout=10)
    api_env = {
        **os.environ,
        MODEL_URI_ENV: model_uri,
        **server.to_env(),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    api = Supervised(
        "api",
        gunicorn_argv(),
        logs / "api.log",
        url=f"http://{host}:{api_port}",
        ready_url=f"http://{host}:{api_port}/readyz",
        env=api_env,
    )

    config_path = run_dir / "prometheus.yml"
    atomic_write_text(config_path, stack_prometheus_config(f"{host}:{api_port}"))
    prometheus = Supervised(
        "prometheus",
        [
            prometheus_bin,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={run_dir / 'prometheus'}",
            f"--web.listen-address={host}:{prometheus_port}",
        ],
        logs / "prometheus.log",
        url=f"http://{host}:{prometheus_port}",
        ready_url=f"http://{host}:{prometheus_port}/-/ready",
    )

    paths = Paths()
    tracking_uri = mlflow_tracking_uri(paths)
    if tracking_uri.startswith(("http://", "https://", "databricks")):
        # a team tracking server already has its UI: nothing local to start
        log.warning("MLFLOW_TRACKING_URI is %s: not starting a local MLflow UI", tracking_uri)
        return [api, prometheus]
    mlflow = Supervised(
        "mlflow",
        [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--host",
            host,
            "--port",
            str(mlflow_port),
            "--workers",
            "1",
            "--backend-store-uri",
            tracking_uri,
            "--default-artifact-root",
            mlflow_artifact_root(paths),
        ],
        logs / "mlflow.log",
        url=f"http://{host}:{mlflow_port}",
        ready_url=f"http://{host}:{mlflow_port}/health",
    )
    return [api, prometheus, mlflow]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: stack: {message}", err=True)
    return typer.Exit(2)


def stack(
    model_uri: Annotated[
        str, typer.Option(help="Model directory or registry URI.", envvar=MODEL_URI_ENV)
    ] = DEFAULT_MODEL_URI,
    host: Annotated[str, typer.Option(help="Loopback address every process listens on.")] = DEFAULT_HOST,
    api_port: Annotated[int, typer.Option(min=1, max=65535, help="The API's port.")] = DEFAULT_PORT,
    prometheus_port: Annotated[int, typer.Option(min=1, max=65535, help="Prometheus's port.")] = 9090,
    mlflow_port: Annotated[int, typer.Option(min=1, max=65535, help="The MLflow UI's port.")] = 5000,
    workers: Annotated[
        int | None, typer.Option(min=1, help="gunicorn worker processes (default: $GUNICORN_WORKERS, 2).")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Configuration, TSDB and logs (default: <project>/.run).")
    ] = None,
    prometheus_bin: Annotated[str, typer.Option(help="The Prometheus server binary.")] = "prometheus",
    ready_timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for each to answer.")] = 180,
) -> None:
    """Run the API (gunicorn), Prometheus (with the rules) and the MLflow UI until Ctrl-C."""
    from sentiment_mlops.config import Paths

    if not _is_model_dir_or_uri(model_uri):
        raise _fail(f"{model_uri} is not a model directory (run `sentiment export`)")
    from sentiment_mlops.workspace.repository import RepositoryError, monitoring_paths

    try:
        monitoring_paths()  # the rules and the Prometheus configuration of the repository
    except RepositoryError as exc:
        raise _fail(str(exc)) from exc
    binary = shutil.which(prometheus_bin)
    if binary is None:
        raise _fail(f"{prometheus_bin} not found: install Prometheus (Debian: apt-get install prometheus)")
    for name, port in (("api", api_port), ("prometheus", prometheus_port), ("mlflow", mlflow_port)):
        if port_in_use(host, port):
            raise _fail(f"port {port} on {host} is in use: pass --{name}-port")
    if len({api_port, prometheus_port, mlflow_port}) < 3:
        raise _fail("--api-port, --prometheus-port and --mlflow-port must differ")
    if not model_uri.startswith(("models:/", "runs:/")):
        model_uri = str(Path(model_uri).resolve())
    run_dir = (run_dir or Paths().root / ".run").resolve()

    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("%s received: stopping the stack", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        children = build_children(
            model_uri, run_dir, host, api_port, prometheus_port, mlflow_port, workers, binary
        )
        run_stack(children, stop, ready_timeout, echo=typer.echo)
    except StackError as exc:
        typer.echo(f"error: stack: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
