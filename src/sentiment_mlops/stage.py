"""What every room's commands share: a stage's paths and parameters, its expected failures, its engine.

An expected failure (bad data, bad parameters, a failed quality gate) prints one clear line and
exits with code 2; DVC and CI stop on it. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import typer

from sentiment_mlops.config import ConfigError, Params, Paths, load_params


class Engine(StrEnum):
    """Where batch work runs: this machine, or Apache Spark (local mode or a cluster)."""

    local = "local"
    spark = "spark"


def _expected_errors() -> tuple[type[BaseException], ...]:
    # Imported when a stage fails, not before: `sentiment --help` stays instant.
    from sentiment_mlops.batch.files import PredictInputError
    from sentiment_mlops.data.errors import DataError
    from sentiment_mlops.model.artifact import ModelError
    from sentiment_mlops.registry.versions import GateFailedError, RegistryError

    return (ConfigError, DataError, ModelError, PredictInputError, RegistryError, GateFailedError)


@contextmanager
def stage(name: str) -> Iterator[tuple[Paths, Params]]:
    """Load paths and parameters; turn an expected failure into ``error: NAME: ...`` and exit code 2."""
    try:
        yield Paths(), load_params()
    except _expected_errors() as exc:
        typer.echo(f"error: {name}: {exc}", err=True)
        raise typer.Exit(2) from exc
