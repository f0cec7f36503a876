"""``sentiment serve``: run the API under gunicorn with the settings of :mod:`.gunicorn_conf`."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.config import (
    DEFAULT_HOST,
    DEFAULT_LOG_URL,
    DEFAULT_MODEL_URI,
    DEFAULT_PORT,
    MODEL_URI_ENV,
    SHADOW_MODEL_URI_ENV,
    ConfigError,
    ServerSettings,
)
from sentiment_mlops.stage import PredictionLogOption

GUNICORN_CONFIG = "python:sentiment_mlops.serving.gunicorn_conf"
WSGI_APP = "sentiment_mlops.serving.wsgi:build_app()"


def gunicorn_argv() -> list[str]:
    """The command line that starts the server (the environment carries the settings)."""
    return [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, WSGI_APP]


def serve(
    model_uri: Annotated[
        str,
        typer.Option(
            help="Model directory or registry URI (models:/sentiment@champion).", envvar=MODEL_URI_ENV
        ),
    ] = DEFAULT_MODEL_URI,
    shadow: Annotated[
        str | None,
        typer.Option(
            help="A second model (directory or registry URI, e.g. models:/sentiment@challenger) scored "
            "beside the served one on every request: logged and measured, never answering.",
            envvar=SHADOW_MODEL_URI_ENV,
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.", envvar="SENTIMENT_HOST")] = DEFAULT_HOST,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port to listen on.", envvar="SENTIMENT_PORT")
    ] = DEFAULT_PORT,
    # No defaults here: unset options keep what the GUNICORN_* variables (ServerSettings) say.
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Threads per worker (1: sync workers).")] = None,
    timeout: Annotated[
        int | None, typer.Option(min=1, help="Seconds before a silent worker is restarted.")
    ] = None,
    graceful_timeout: Annotated[
        int | None, typer.Option(min=1, help="Seconds to finish requests on SIGTERM.")
    ] = None,
) -> None:
    """Serve the model over HTTP (gunicorn). SIGTERM drains, SIGHUP reloads the model (and the shadow).

    Unset worker options come from ``GUNICORN_*`` (see :class:`sentiment_mlops.config.ServerSettings`).
    """
    for uri in (model_uri, shadow):
        if uri and not uri.startswith(("models:/", "runs:/")) and not (Path(uri) / "card.json").is_file():
            typer.echo(f"error: serve: {uri} is not a model directory (run `sentiment export`)", err=True)
            raise typer.Exit(2)
    try:
        base = ServerSettings.from_env()
    except ConfigError as exc:
        typer.echo(f"error: serve: {exc}", err=True)
        raise typer.Exit(2) from exc
    given = {"workers": workers, "threads": threads, "timeout": timeout, "graceful_timeout": graceful_timeout}
    settings = replace(
        base,
        bind=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        **{name: value for name, value in given.items() if value is not None},
    )
    env = {**os.environ, MODEL_URI_ENV: model_uri, SHADOW_MODEL_URI_ENV: shadow or "", **settings.to_env()}
    sys.stdout.flush()
    sys.stderr.flush()
    # exec: gunicorn's master takes this process's id, so signals (SIGTERM, SIGHUP) reach it directly.
    os.execve(sys.executable, gunicorn_argv(), env)


shadow_app = typer.Typer(help="Shadow scoring: how the challenger would have answered live traffic.")


@shadow_app.command("report")
def shadow_report(
    log_url: PredictionLogOption = DEFAULT_LOG_URL,
    out: Annotated[Path | None, typer.Option(help="Also write the report here (JSON).")] = None,
    shadow_version: Annotated[
        str | None, typer.Option(help="Only the reviews this shadow version scored (default: all).")
    ] = None,
    min_agreement: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Gate: the shadow agrees at least this often.")
    ] = None,
    max_accuracy_drop: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Gate: shadow accuracy at most this far below the champion's."),
    ] = None,
    min_labelled: Annotated[int, typer.Option(min=0, help="Gate: at least this many labelled pairs.")] = 0,
) -> None:
    """Agreement, positive share and (on the labelled part) accuracy of the champion and the shadow,
    from the prediction log; exit 2 if a gate given as an option fails."""
    from sentiment_mlops.data.errors import DataError
    from sentiment_mlops.files import atomic_write_json
    from sentiment_mlops.serving import shadow_report as shadow_mod

    try:
        summary = shadow_mod.report(log_url, shadow_version)
    except DataError as exc:
        typer.echo(f"error: shadow report: {exc}", err=True)
        raise typer.Exit(2) from exc
    failures = shadow_mod.Gate(min_agreement, max_accuracy_drop, min_labelled).failures(summary)
    summary["gate"] = {"passed": not failures, "failures": failures}
    if out is not None:
        atomic_write_json(out, summary)
    typer.echo(json.dumps(summary, indent=2))
    if failures:
        typer.echo(f"error: shadow report: the shadow fails the gate: {'; '.join(failures)}", err=True)
        raise typer.Exit(2)
