"""``sentiment train`` and ``evaluate`` (the training stages), and ``sentiment compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.stage import Engine, stage


def _expected() -> tuple[type[BaseException], ...]:
    """The failures the training stages and compare expect, besides bad parameters."""
    from sentiment_mlops.data.errors import DataError
    from sentiment_mlops.model.artifact import ModelError
    from sentiment_mlops.registry.versions import RegistryError

    return (DataError, ModelError, RegistryError)


def train(
    track: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    engine: Annotated[
        Engine, typer.Option(help="spark: featurise and count the NB statistics on a Spark cluster.")
    ] = Engine.local,
) -> None:
    """Choose hyper-parameters on validation, refit on train, save models/model, log to MLflow."""
    from sentiment_mlops.training import train as train_stage

    with stage("train", _expected) as (paths, params):
        train_stage.run(paths, params, track=track, engine=engine.value)


def evaluate(
    track: Annotated[bool, typer.Option(help="Add the metrics and plots to the MLflow run.")] = True,
) -> None:
    """Score the test split; write reports/metrics.json, plots and figures."""
    from sentiment_mlops.training import evaluate as evaluate_stage

    with stage("evaluate", _expected) as (paths, params):
        metrics = evaluate_stage.run(paths, params, track=track)
        typer.echo(f"accuracy {metrics['accuracy']:.4f}  roc_auc {metrics['roc_auc']:.4f}")


def compare(
    champion: Annotated[str | None, typer.Option(help="Default: models:/<name>@champion.")] = None,
    challenger: Annotated[str, typer.Option(help="Model directory or registry URI.")] = "models/model",
    window: Annotated[Path | None, typer.Option(help="Default: data/production/window.parquet.")] = None,
) -> None:
    """Champion against challenger on IMDB test and the production window: accuracies, difference,
    McNemar's test (reports/compare.json; `sentiment promote` reads it)."""
    from sentiment_mlops.registry import versions as registry
    from sentiment_mlops.training import compare as compare_mod

    with stage("compare", _expected) as (paths, params):
        try:
            champ = registry.load_model(champion or f"models:/{params.registry.model_name}@champion", paths)
            report = compare_mod.run(paths, champ, registry.load_model(challenger, paths), window)
        except compare_mod.CompareError as exc:
            typer.echo(f"error: compare: {exc}", err=True)
            raise typer.Exit(2) from exc
        for name, r in report["sets"].items():
            typer.echo(
                f"{name}: champion {r['champion_accuracy']:.4f} challenger {r['challenger_accuracy']:.4f} "
                f"({r['difference']:+.4f}, McNemar p={r['mcnemar']['p_value']:.3g}, n={r['reviews']})"
            )
