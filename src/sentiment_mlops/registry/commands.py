"""``sentiment register``, ``promote``, ``restore-champion`` and ``export``: the model registry's verbs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.config import DEFAULT_MODEL_URI
from sentiment_mlops.stage import stage


def _expected() -> tuple[type[BaseException], ...]:
    """The failures the registry's verbs expect, besides bad parameters."""
    from sentiment_mlops.model.artifact import ModelError
    from sentiment_mlops.registry.versions import GateFailedError, RegistryError

    return (ModelError, RegistryError, GateFailedError)


def register(
    version: Annotated[
        str | None,
        typer.Option(
            help="Register nothing: check VERSION holds the trained weights (same content hash; "
            "else exit 2) and point 'challenger' at it. The release after a shadow stage."
        ),
    ] = None,
) -> None:
    """Register the trained model in MLflow as a new version with alias 'challenger'."""
    from sentiment_mlops.registry import versions as registry

    with stage("register", _expected) as (paths, params):
        name = params.registry.model_name
        if version is None:
            version = registry.register(paths, params)
            typer.echo(f"registered {name} version {version} as {registry.CHALLENGER}")
        else:
            content_hash = registry.reuse(paths, params, version)
            typer.echo(
                f"reused {name} version {version} as {registry.CHALLENGER}: "
                f"the weights it shadowed (content hash {content_hash}), not registered again"
            )


def promote() -> None:
    """Move alias 'champion' to the challenger if it passes the quality gate (else exit 2)."""
    from sentiment_mlops.registry import versions as registry

    with stage("promote", _expected) as (paths, params):
        decision = registry.promote(paths, params)
        typer.echo(decision.explain())


def restore_champion(
    version: Annotated[
        str, typer.Argument(help='The registry version the rolled-back image serves; "" removes the alias.')
    ],
) -> None:
    """Point alias 'champion' back to VERSION after rolling the deployment back (no gate)."""
    from sentiment_mlops.registry import versions as registry

    with stage("restore-champion", _expected) as (paths, params):
        registry.restore_champion(paths, params, version)
        target = f"version {version}" if version else "none (alias removed)"
        typer.echo(f"{params.registry.model_name}: champion -> {target}")


def export(
    model_uri: Annotated[str | None, typer.Option(help="Default: models:/<name>@champion.")] = None,
    out: Annotated[Path | None, typer.Option(help=f"Default: {DEFAULT_MODEL_URI}.")] = None,
) -> None:
    """Export a registered model as a plain directory the service loads without MLflow."""
    from sentiment_mlops.registry import versions as registry

    with stage("export", _expected) as (paths, params):
        typer.echo(str(registry.export(paths, params, model_uri, out)))
