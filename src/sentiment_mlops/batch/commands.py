"""``sentiment predict``: one review, a file streamed on this machine, or a dataset scored on Spark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.stage import Engine, stage


def _expected() -> tuple[type[BaseException], ...]:
    """The failures predict expect, besides bad parameters."""
    from sentiment_mlops.batch.files import PredictInputError
    from sentiment_mlops.model.artifact import ModelError
    from sentiment_mlops.registry.versions import RegistryError

    return (ModelError, PredictInputError, RegistryError)


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
    from sentiment_mlops.batch import files
    from sentiment_mlops.registry import versions as registry

    if (text is None) == (input_file is None):
        typer.echo("error: predict: give either a TEXT argument or --input FILE", err=True)
        raise typer.Exit(2)
    with stage("predict", _expected) as (paths, _params):
        model = registry.load_model(model_uri, paths)
        if text is not None:
            typer.echo(files.format_one(model, text))
            return
        assert input_file is not None
        if output_file is None:
            typer.echo("error: predict: --input needs --output", err=True)
            raise typer.Exit(2)
        if engine is Engine.spark:
            from sentiment_mlops import spark_session
            from sentiment_mlops.batch import spark_scoring

            spark = spark_session.get_session("sentiment-predict")
            rows = spark_scoring.predict_dataset(
                spark, model, input_file, output_file, text_column, input_format
            )
        else:
            rows = files.predict_file(model, Path(input_file), Path(output_file), text_column, batch_size)
        typer.echo(f"scored {rows} reviews -> {output_file}")
