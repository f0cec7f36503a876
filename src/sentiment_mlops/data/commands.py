"""``sentiment fetch``, ``ingest`` and ``split`` (the data stages), and ``sentiment feedback export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.config import DEFAULT_LOG_URL
from sentiment_mlops.stage import PredictionLogOption, stage

# The file dvc.yaml's ingest stage depends on (the official archive's name).
ARCHIVE_NAME = "aclImdb_v1.tar.gz"


def _expected() -> tuple[type[BaseException], ...]:
    """The failures the data stages expect, besides bad parameters."""
    from sentiment_mlops.data.errors import DataError

    return (DataError,)


def fetch() -> None:
    """Put the verified IMDB archive where the ingest stage reads it (data/raw/aclImdb_v1.tar.gz).

    A link to $SENTIMENT_DATA_ARCHIVE when it names a local file (raw data is never copied), else
    the official archive, downloaded once and checked against params.yaml's md5.
    """
    from sentiment_mlops.data.fetch import fetch_archive

    with stage("fetch", _expected) as (paths, params):
        dest = paths.raw / ARCHIVE_NAME
        archive = fetch_archive(paths, params).resolve()
        if archive != dest.resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            link = dest.with_name(f".{dest.name}.link")
            link.unlink(missing_ok=True)
            link.symlink_to(archive)
            link.replace(dest)  # atomic: ingest never sees a missing archive
        typer.echo(str(dest))


def ingest(
    source: Annotated[
        str | None,
        typer.Option(help="Archive path or URL. Default: $SENTIMENT_DATA_ARCHIVE, else the official URL."),
    ] = None,
    sha256: Annotated[
        str | None, typer.Option(help="Expected sha256. Default: $SENTIMENT_DATA_SHA256.")
    ] = None,
    sample: Annotated[
        int | None, typer.Option(min=2, help="Keep a stratified sample of N reviews per split (fast runs).")
    ] = None,
) -> None:
    """Fetch, verify and extract the IMDB archive into validated parquet (data/interim)."""
    from sentiment_mlops.data.ingest import ingest as run_ingest

    with stage("ingest", _expected) as (paths, params):
        outputs = run_ingest(paths, params, source=source, sha256=sha256, sample=sample)
        typer.echo(" ".join(str(p) for p in outputs.values()))


def split() -> None:
    """Carve the stratified validation split out of train (data/processed)."""
    from sentiment_mlops.data.splits import split as run_split

    with stage("split", _expected) as (paths, params):
        run_split(paths, params)


feedback_app = typer.Typer(help="Production feedback: join the prediction log with its labels.")


@feedback_app.command("export")
def feedback_export(
    log_url: PredictionLogOption = DEFAULT_LOG_URL,
    out: Annotated[Path | None, typer.Option(help="Default: data/labelled/feedback.parquet.")] = None,
    window: Annotated[Path | None, typer.Option(help="Default: data/production/window.parquet.")] = None,
) -> None:
    """Join predictions and feedback by id (latest label wins), drop evaluation texts, hold out the
    newest window for `sentiment compare`, write the rest as a labelled file training reads."""
    from sentiment_mlops.data import feedback
    from sentiment_mlops.data.splits import read_split
    from sentiment_mlops.files import atomic_write_json

    with stage("feedback export", _expected) as (paths, params):
        # Leakage guard: nothing that judges a model (test, validation) may train it.
        evaluation = [*read_split(paths, "test")["text"], *read_split(paths, "validation")["text"]]
        counts = feedback.export(
            log_url,
            evaluation,
            out or paths.labelled / "feedback.parquet",
            window or paths.production_window,
            params.feedback.holdout_fraction,
            params.feedback.min_holdout,
        )
        atomic_write_json(paths.reports / "feedback_export.json", counts)
        typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
