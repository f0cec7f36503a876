"""``sentiment loop``: the production loop, run end to end in a scratch copy of this repository."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.config import Paths

# What the command prints of the loop's summary (reports/loop holds all of it).
LOOP_KEYS = (
    "served",
    "logged",
    "dropped",
    "lost",
    "feedback",
    "live_accuracy_before",
    "live_accuracy_after",
    "estimated_accuracy_mae",
    "challenger_gain_on_production_window",
    "production_window_mcnemar_p_value",
)


def loop(
    archive: Annotated[
        Path, typer.Option(help="The IMDB archive (tar.gz).", envvar="SENTIMENT_DATA_ARCHIVE", exists=True)
    ],
    out: Annotated[Path | None, typer.Option(help="Default: reports/loop.")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Scratch project (default: a temporary folder).")
    ] = None,
    stream: Annotated[int, typer.Option(min=500, help="Reviews in the production stream.")] = 4500,
) -> None:
    """The production loop end to end: serve, replay labelled traffic, alert, export feedback,
    retrain, compare, promote, reload, recover (gunicorn, Prometheus and this CLI, on loopback)."""
    from sentiment_mlops.workspace import loop as loop_mod

    paths = Paths()
    scratch = workdir or Path(tempfile.mkdtemp(prefix="sentiment-loop-"))
    try:
        summary = loop_mod.run(archive, out or paths.reports / "loop", scratch, paths.params_file, stream)
    finally:
        if workdir is None:
            loop_mod.clean(scratch)
    typer.echo(json.dumps({k: summary[k] for k in LOOP_KEYS}, indent=2))
