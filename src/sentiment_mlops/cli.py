"""The ``sentiment`` command line: one thin command per pipeline stage and everyday verb.

Each command parses options and calls the module that does the work. Heavy imports happen inside
the commands so ``sentiment --help`` stays instant. Expected failures (bad data, bad parameters,
a failed quality gate) print one clear line and exit with code 2; DVC and CI stop on it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.autoscaling.commands import app as autoscale_app
from sentiment_mlops.config import DEFAULT_MODEL_URI, ConfigError, Params, Paths, load_params
from sentiment_mlops.serving.commands import serve, shadow_app
from sentiment_mlops.workspace.monitoring import app as monitoring_app
from sentiment_mlops.workspace.stack import stack

app = typer.Typer(
    name="sentiment",
    help="Sentiment analysis of movie reviews: train, track, register, serve and scale.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(autoscale_app, name="autoscale", help="Predictive autoscaling: scaler, simulator, backtest.")
app.add_typer(monitoring_app, name="monitoring", help="Prometheus rules and dashboards.")
app.command("serve")(serve)
app.add_typer(shadow_app, name="shadow")
app.command("stack")(stack)

log = logging.getLogger("sentiment_mlops.cli")

# The file dvc.yaml's ingest stage depends on (the official archive's name).
ARCHIVE_NAME = "aclImdb_v1.tar.gz"


class Engine(StrEnum):
    """Where batch work runs: this machine, or Apache Spark (local mode or a cluster)."""

    local = "local"
    spark = "spark"


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    """Configure logging once, here, never at import time."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _expected_errors() -> tuple[type[BaseException], ...]:
    from sentiment_mlops.batch import PredictInputError
    from sentiment_mlops.data.errors import DataError
    from sentiment_mlops.model.artifact import ModelError
    from sentiment_mlops.registry.versions import GateFailedError, RegistryError

    return (ConfigError, DataError, ModelError, PredictInputError, RegistryError, GateFailedError)


@contextmanager
def _stage(name: str) -> Iterator[tuple[Paths, Params]]:
    """Load paths and parameters; turn an expected failure into ``error: ...`` and exit code 2."""
    try:
        yield Paths(), load_params()
    except _expected_errors() as exc:
        typer.echo(f"error: {name}: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def fetch() -> None:
    """Put the verified IMDB archive where the ingest stage reads it (data/raw/aclImdb_v1.tar.gz).

    A link to $SENTIMENT_DATA_ARCHIVE when it names a local file (raw data is never copied), else
    the official archive, downloaded once and checked against params.yaml's md5.
    """
    from sentiment_mlops.data.fetch import fetch_archive

    with _stage("fetch") as (paths, params):
        dest = paths.raw / ARCHIVE_NAME
        archive = fetch_archive(paths, params).resolve()
        if archive != dest.resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            link = dest.with_name(f".{dest.name}.link")
            link.unlink(missing_ok=True)
            link.symlink_to(archive)
            link.replace(dest)  # atomic: ingest never sees a missing archive
        typer.echo(str(dest))


@app.command()
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

    with _stage("ingest") as (paths, params):
        outputs = run_ingest(paths, params, source=source, sha256=sha256, sample=sample)
        typer.echo(" ".join(str(p) for p in outputs.values()))


@app.command()
def split() -> None:
    """Carve the stratified validation split out of train (data/processed)."""
    from sentiment_mlops.data.splits import split as run_split

    with _stage("split") as (paths, params):
        run_split(paths, params)


@app.command()
def train(
    track: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    engine: Annotated[
        Engine, typer.Option(help="spark: featurise and count the NB statistics on a Spark cluster.")
    ] = Engine.local,
) -> None:
    """Choose hyper-parameters on validation, refit on train, save models/model, log to MLflow."""
    from sentiment_mlops.training import train as train_stage

    with _stage("train") as (paths, params):
        train_stage.run(paths, params, track=track, engine=engine.value)


@app.command()
def evaluate(
    track: Annotated[bool, typer.Option(help="Add the metrics and plots to the MLflow run.")] = True,
) -> None:
    """Score the test split; write reports/metrics.json, plots and figures."""
    from sentiment_mlops.training import evaluate as evaluate_stage

    with _stage("evaluate") as (paths, params):
        metrics = evaluate_stage.run(paths, params, track=track)
        typer.echo(f"accuracy {metrics['accuracy']:.4f}  roc_auc {metrics['roc_auc']:.4f}")


@app.command()
def register() -> None:
    """Register the trained model in MLflow as a new version with alias 'challenger'."""
    from sentiment_mlops.registry import versions as registry

    with _stage("register") as (paths, params):
        version = registry.register(paths, params)
        typer.echo(f"registered {params.registry.model_name} version {version} as {registry.CHALLENGER}")


@app.command()
def promote() -> None:
    """Move alias 'champion' to the challenger if it passes the quality gate (else exit 2)."""
    from sentiment_mlops.registry import versions as registry

    with _stage("promote") as (paths, params):
        decision = registry.promote(paths, params)
        typer.echo(decision.explain())


@app.command("restore-champion")
def restore_champion(
    version: Annotated[
        str, typer.Argument(help='The registry version the rolled-back image serves; "" removes the alias.')
    ],
) -> None:
    """Point alias 'champion' back to VERSION after rolling the deployment back (no gate)."""
    from sentiment_mlops.registry import versions as registry

    with _stage("restore-champion") as (paths, params):
        registry.restore_champion(paths, params, version)
        target = f"version {version}" if version else "none (alias removed)"
        typer.echo(f"{params.registry.model_name}: champion -> {target}")


@app.command()
def export(
    model_uri: Annotated[str | None, typer.Option(help="Default: models:/<name>@champion.")] = None,
    out: Annotated[Path | None, typer.Option(help=f"Default: {DEFAULT_MODEL_URI}.")] = None,
) -> None:
    """Export a registered model as a plain directory the service loads without MLflow."""
    from sentiment_mlops.registry import versions as registry

    with _stage("export") as (paths, params):
        typer.echo(str(registry.export(paths, params, model_uri, out)))


@app.command()
def predict(
    text: Annotated[str | None, typer.Argument(help="One review to score.")] = None,
    input_file: Annotated[
        str | None,
        typer.Option(
            "--input", "-i", help="CSV, JSONL or parquet with a 'text' column (spark: any path Spark reads)."
        ),
    ] = None,
    output_file: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Where to write the scored rows (spark: a Parquet dataset)."),
    ] = None,
    model_uri: Annotated[
        str, typer.Option(help="Model directory or registry URI.", envvar="SENTIMENT_MODEL_URI")
    ] = "models/model",
    text_column: Annotated[str, typer.Option(help="Column holding the review text.")] = "text",
    batch_size: Annotated[int, typer.Option(min=1, help="Reviews per scored batch.")] = 10_000,
    engine: Annotated[
        Engine, typer.Option(help="local: stream on this machine; spark: score on a Spark cluster.")
    ] = Engine.local,
    input_format: Annotated[
        str | None,
        typer.Option(help="spark: parquet, csv or jsonl when the suffix does not say (folders: parquet)."),
    ] = None,
) -> None:
    """Score one review, or a whole file (streamed, so it may be larger than memory) or dataset."""
    from sentiment_mlops import batch as predict_mod
    from sentiment_mlops.registry import versions as registry

    if (text is None) == (input_file is None):
        typer.echo("error: predict: give either a TEXT argument or --input FILE", err=True)
        raise typer.Exit(2)
    with _stage("predict") as (paths, _params):
        model = registry.load_model(model_uri, paths)
        if text is not None:
            typer.echo(predict_mod.format_one(model, text))
            return
        assert input_file is not None
        if output_file is None:
            typer.echo("error: predict: --input needs --output", err=True)
            raise typer.Exit(2)
        if engine is Engine.spark:
            from sentiment_mlops.spark import scoring, session

            spark = session.get_session("sentiment-predict")
            rows = scoring.predict_dataset(spark, model, input_file, output_file, text_column, input_format)
        else:
            rows = predict_mod.predict_file(
                model, Path(input_file), Path(output_file), text_column, batch_size
            )
        typer.echo(f"scored {rows} reviews -> {output_file}")


feedback_app = typer.Typer(help="Production feedback: join the prediction log with its labels.")
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
def feedback_export(
    log_url: Annotated[
        str,
        typer.Option(
            "--log", help="Prediction log folder or fsspec URL (s3://...).", envvar="SENTIMENT_PREDICTION_LOG"
        ),
    ] = "prediction-log",
    out: Annotated[Path | None, typer.Option(help="Default: data/labelled/feedback.parquet.")] = None,
    window: Annotated[Path | None, typer.Option(help="Default: data/production/window.parquet.")] = None,
) -> None:
    """Join predictions and feedback by id (latest label wins), drop evaluation texts, hold out the
    newest window for `sentiment compare`, write the rest as a labelled file training reads."""
    from sentiment_mlops.data import feedback
    from sentiment_mlops.data.splits import read_split
    from sentiment_mlops.files import atomic_write_json

    with _stage("feedback export") as (paths, params):
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


@app.command()
def compare(
    champion: Annotated[str | None, typer.Option(help="Default: models:/<name>@champion.")] = None,
    challenger: Annotated[str, typer.Option(help="Model directory or registry URI.")] = "models/model",
    window: Annotated[Path | None, typer.Option(help="Default: data/production/window.parquet.")] = None,
) -> None:
    """Champion against challenger on IMDB test and the production window: accuracies, difference,
    McNemar's test (reports/compare.json; `sentiment promote` reads it)."""
    from sentiment_mlops.registry import versions as registry
    from sentiment_mlops.training import compare as compare_mod

    with _stage("compare") as (paths, params):
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


@app.command()
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
    import tempfile

    from sentiment_mlops.workspace import loop as loop_mod

    paths = Paths()
    scratch = workdir or Path(tempfile.mkdtemp(prefix="sentiment-loop-"))
    try:
        summary = loop_mod.run(archive, out or paths.reports / "loop", scratch, paths.params_file, stream)
    finally:
        if workdir is None:
            loop_mod.clean(scratch)
    typer.echo(json.dumps({k: summary[k] for k in LOOP_KEYS}, indent=2))


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
