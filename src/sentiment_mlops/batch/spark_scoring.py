"""Batch scoring on Spark: any dataset Spark reads (local, ``s3a://``) to Parquet, with the same kernels.

The model travels once per executor (``SparkContext.addFile``) and is loaded once per Python worker.
An Arrow UDF receives only the text column and returns only the label and probability (the other
columns stay in the JVM); each batch goes through the kernels and :meth:`SentimentModel.probabilities`
like a local batch, so the probabilities are those of local scoring to the bit. Each task scores with
as many kernel threads as it has CPUs (one by default): Spark already runs a task per core.
Output goes to a hidden staging folder that replaces ``dest`` only when the whole job succeeded;
Spark's committer keeps a retried task's rows from appearing twice.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import logging
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from sentiment_mlops.batch.files import FORMATS, PredictInputError
from sentiment_mlops.model.artifact import LABELS, SentimentModel
from sentiment_mlops.spark_session import HadoopPaths

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

_CORRUPT = "_corrupt_record"  # where Spark's lenient JSON reader puts lines it cannot parse
ADDED_COLUMNS = ("label", "probability", "model_version")
_RESULT = "label string, probability double"  # what the Python side returns per review
_SHIPPED: dict[tuple[str, str, str], str] = {}  # (application, version, card digest) -> SparkFiles name
_PARTITION_DIR = re.compile(r"/([^/=]+)=[^/]*(?=/)")
# Spark names the file it failed on: "Encountered error while reading file <path>." (FAILED_READ_FILE)
_FAILED_FILE = re.compile(r"reading file (\S+?)\.?(?:\s|$)")


def dataset_format(source: str, fmt: str | None = None) -> str:
    """``parquet``, ``csv`` or ``jsonl``: as given, else from the suffix; a folder is Parquet."""
    if fmt:
        return fmt
    suffix = "." + source.rstrip("/").rsplit(".", 1)[-1].lower() if "." in source.rsplit("/", 1)[-1] else ""
    return FORMATS.get(suffix, "parquet")


def read_dataset(spark: SparkSession, source: str, fmt: str | None = None) -> DataFrame:
    """The rows of ``source`` (a file, a folder or a glob) as read strictly: a malformed row fails."""
    from pyspark.errors import AnalysisException
    from pyspark.sql.types import StructType

    kind = dataset_format(source, fmt)
    reader = spark.read.option("mode", "FAILFAST")
    try:
        if kind == "csv":
            # As pandas writes CSV: a header, quotes doubled inside quoted fields, newlines in reviews.
            return reader.csv(source, header=True, multiLine=True, escape='"')
        if kind == "jsonl":
            # Infer leniently, then read strictly with that schema: a malformed line then fails the
            # scan, whose error names the file (schema inference's error does not).
            inferred = spark.read.json(source).schema
            schema = StructType([f for f in inferred.fields if f.name != _CORRUPT])
            return reader.schema(schema).json(source)
        return reader.parquet(source)
    except AnalysisException as exc:
        raise PredictInputError(f"{source}: cannot read as {kind}: {exc.getMessage()}") from exc


def partition_columns(df: DataFrame, source: str) -> list[str]:
    """The ``key=value`` folder levels every input file sits under (Hive-style partitioning)."""
    root = source.rstrip("/")
    keys: list[str] | None = None
    for file in df.inputFiles():
        relative = file.split(root.split("://")[-1], 1)[-1]
        found = _PARTITION_DIR.findall(relative)
        keys = found if keys is None else [k for k in keys if k in found]
    return [k for k in (keys or []) if k in df.columns]


@functools.lru_cache(maxsize=2)
def _executor_model(directory: str) -> SentimentModel:
    # Once per Python worker (Spark reuses workers across tasks), not once per batch.
    return SentimentModel.load(directory)


def score_texts(model: SentimentModel, texts: pa.Array, threads: int) -> pa.StructArray:
    """``label`` and ``probability`` (6 decimals, as local batch files) of one Arrow batch of texts.

    A null text scores as ``""``, as in local batch files. ``threads``: the kernel threads this batch
    may use; under Spark the task's CPUs, since Spark already runs one task per core.
    """
    import pyarrow.compute as pc

    values = pc.fill_null(texts, "").to_pylist() if len(texts) else []
    proba = model.probabilities(model.score(values, threads=threads)) if values else np.zeros(0)
    labels = np.where(proba >= 0.5, LABELS[1], LABELS[0])
    return pa.StructArray.from_arrays(
        [pa.array(labels, pa.string()), pa.array(proba.round(6))], names=["label", "probability"]
    )


def _scorer(model_name: str):  # type: ignore[no-untyped-def]
    from pyspark.sql.functions import arrow_udf

    # An Arrow UDF on the text column alone: Spark sends only the texts to Python and gets back only
    # the two results, keeping the row's other columns on the JVM side (mapInArrow would ship every
    # column to Python and back).
    @arrow_udf(_RESULT)  # type: ignore[call-overload]
    def score(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        from pyspark import SparkFiles, TaskContext

        model = _executor_model(SparkFiles.get(model_name))
        context = TaskContext.get()
        threads = context.cpus() if context is not None else 1
        for texts in batches:
            yield score_texts(model, texts, threads)

    return score


def _column(name: str):  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as sf

    return sf.col("`" + name.replace("`", "``") + "`")


def ship_model(spark: SparkSession, model: SentimentModel) -> str:
    """The name under which ``model`` reaches the executors (``SparkFiles``), shipped once per session.

    Saved as one plain folder, so any model URI (folder, registry) ships alike. A later job of the
    same session with the same model reuses it: no second save (compressing the weights takes a
    second), and Python workers that served an earlier task keep the model they loaded.
    """
    card = json.dumps(model.card, sort_keys=True, default=str).encode()
    key = (spark.sparkContext.applicationId, model.version, hashlib.sha256(card).hexdigest())
    if key not in _SHIPPED:
        # A unique name: a session refuses a second file of the same name.
        folder = model.save(Path(_ship_root()) / f"sentiment-model-{uuid.uuid4().hex[:12]}")
        spark.sparkContext.addFile(str(folder), recursive=True)
        _SHIPPED[key] = folder.name
    return _SHIPPED[key]


@functools.lru_cache(maxsize=1)
def _ship_root() -> str:
    # Spark fetches an added file when a task first needs it, so the folder outlives the job; it
    # goes when this process ends.
    root = tempfile.mkdtemp(prefix="sentiment-spark-model-")
    atexit.register(shutil.rmtree, root, True)
    return root


def scored(spark: SparkSession, df: DataFrame, model: SentimentModel, text_column: str) -> DataFrame:
    """``df`` with the three added columns, partition for partition (no shuffle)."""
    from pyspark.sql import functions as sf

    if text_column not in df.columns:
        raise PredictInputError(f"no column {text_column!r} (columns: {', '.join(df.columns)})")
    kept = [_column(name) for name in df.columns if name not in ADDED_COLUMNS]
    result = _scorer(ship_model(spark, model))(_column(text_column).cast("string")).alias("_scored")
    # One Python evaluation feeds both fields (the projection holding the UDF is not inlined twice).
    with_result = df.select(*kept, result)
    return with_result.select(
        *kept,
        sf.col("_scored.label").alias("label"),
        sf.col("_scored.probability").alias("probability"),
        sf.lit(model.version).alias("model_version"),
    )


def _read_error(exc: Exception, source: str, kind: str) -> PredictInputError:
    message = str(exc)
    match = _FAILED_FILE.search(message)
    where = match.group(1) if match else source
    first = next((line for line in message.splitlines() if line.strip()), message)
    return PredictInputError(f"{where}: cannot read as {kind}: {first[:500]}")


def predict_dataset(
    spark: SparkSession,
    model: SentimentModel,
    source: str,
    dest: str,
    text_column: str = "text",
    fmt: str | None = None,
) -> int:
    """Score every row of ``source`` into the Parquet dataset ``dest``; return the row count."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    kind = dataset_format(source, fmt)
    if dest.rstrip("/").rsplit(".", 1)[-1].lower() in ("csv", "jsonl", "ndjson"):
        raise PredictInputError(
            f"{dest}: the spark engine writes a Parquet dataset; name it without .csv/.jsonl"
        )
    df = read_dataset(spark, source, kind)
    keys = partition_columns(df, source)
    fs = HadoopPaths(spark)
    staging = fs.sibling(dest, "staging")
    writer = scored(spark, df, model, text_column).write.mode("errorifexists")
    if keys:
        writer = writer.partitionBy(*keys)
    try:
        writer.parquet(staging)
    except (Py4JJavaError, PySparkException) as exc:
        fs.delete(staging)
        raise _read_error(exc, source, kind) from exc
    except BaseException:
        fs.delete(staging)
        raise
    rows = spark.read.parquet(staging).count()
    if rows == 0:
        fs.delete(staging)
        raise PredictInputError(f"{source}: no rows to score")
    fs.replace(staging, dest)
    log.info("scored %d reviews into %s (partitioned by %s)", rows, dest, ", ".join(keys) or "nothing")
    return rows
