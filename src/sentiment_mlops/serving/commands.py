"""``sentiment serve``: run the API under gunicorn with the settings of :mod:`.gunicorn_conf`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

GUNICORN_CONFIG = "python:sentiment_mlops.serving.gunicorn_conf"
WSGI_APP = "sentiment_mlops.serving.wsgi:build_app()"


def gunicorn_argv() -> list[str]:
    """The command line that starts the server (the environment carries the settings)."""
    return [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, WSGI_APP]


def serve(
    model_uri: Annotated[
        str,
        typer.Option(
            help="Model directory or registry URI (models:/sentiment@champion).", envvar="SENTIMENT_MODEL_URI"
        ),
    ] = "models/export",
    host: Annotated[str, typer.Option(help="Address to listen on.", envvar="SENTIMENT_HOST")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port to listen on.", envvar="SENTIMENT_PORT")
    ] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.", envvar="GUNICORN_WORKERS")] = 2,
    threads: Annotated[
        int, typer.Option(min=1, help="Threads per worker (1: sync workers).", envvar="GUNICORN_THREADS")
    ] = 1,
    timeout: Annotated[
        int,
        typer.Option(min=1, help="Seconds before a silent worker is restarted.", envvar="GUNICORN_TIMEOUT"),
    ] = 30,
    graceful_timeout: Annotated[
        int,
        typer.Option(
            min=1, help="Seconds to finish requests on SIGTERM.", envvar="GUNICORN_GRACEFUL_TIMEOUT"
        ),
    ] = 30,
) -> None:
    """Serve the model over HTTP (gunicorn). SIGTERM drains, SIGHUP reloads the model."""
    if not model_uri.startswith(("models:/", "runs:/")) and not (Path(model_uri) / "card.json").is_file():
        typer.echo(f"error: serve: {model_uri} is not a model directory (run `sentiment export`)", err=True)
        raise typer.Exit(2)
    env = dict(os.environ)
    env.update(
        {
            "SENTIMENT_MODEL_URI": model_uri,
            "GUNICORN_BIND": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_TIMEOUT": str(timeout),
            "GUNICORN_GRACEFUL_TIMEOUT": str(graceful_timeout),
        }
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # exec: gunicorn's master takes this process's id, so signals (SIGTERM, SIGHUP) reach it directly.
    os.execve(sys.executable, gunicorn_argv(), env)
