"""What every room's commands share: a stage's paths and parameters, its expected failures, its engine.

An expected failure (bad data, bad parameters, a failed quality gate) prints one clear line and
exits with code 2; DVC and CI stop on it. Anything else is a bug and keeps its traceback. Each
room names the failures its stages expect, so this module imports none of the rooms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer

from sentiment_mlops.config import LOG_URL_ENV, ConfigError, Params, Paths, load_params

#: The failures a room's stages expect. A function: the room imports its error classes (and the
#: heavy modules that define them) only when a stage fails, so ``sentiment --help`` stays instant.
Expected = Callable[[], tuple[type[BaseException], ...]]

#: ``--log``: the prediction log a command reads (default: config.DEFAULT_LOG_URL, where the
#: service writes it).
PredictionLogOption = Annotated[
    str,
    typer.Option("--log", help="Prediction log folder or s3:// URL.", envvar=LOG_URL_ENV),
]


class Engine(StrEnum):
    """Where batch work runs: this machine, or Apache Spark (local mode or a cluster)."""

    local = "local"
    spark = "spark"


@contextmanager
def stage(name: str, expected: Expected) -> Iterator[tuple[Paths, Params]]:
    """Load paths and parameters; turn a :class:`ConfigError` or one of the ``expected`` failures
    into ``error: NAME: ...`` and exit code 2."""
    try:
        yield Paths(), load_params()
    except Exception as exc:
        if not isinstance(exc, (ConfigError, *expected())):
            raise
        typer.echo(f"error: {name}: {exc}", err=True)
        raise typer.Exit(2) from exc
