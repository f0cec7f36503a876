"""Batch scoring on Spark: any dataset Spark reads (local, ``s3a://``) to Parquet, with the same kernels.

The model travels once per executor (``SparkContext.addFile``) and is loaded once per Python worker;
each Arrow batch is scored by :meth:`SentimentModel.predict_proba`, so the probabilities are those of
local scoring to the bit. Output goes to a hidden staging folder that replaces ``dest`` only when the
whole job succeeded; Spark's committer keeps a retried task's rows from appearing twice.
"""

from __future__ import annotations

import functools
import logging
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sentiment_mlops.batch.files import FORMATS, PredictInputError
from sentiment_mlops.model.artifact import LABELS, SentimentModel
from sentiment_mlops.spark.session import HadoopPaths

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

_CORRUPT = "_corrupt_record"  # where Spark's lenient JSON reader puts lines it cannot parse
ADDED_COLUMNS = ("label", "probability", "model_version")
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


def score_table(model: SentimentModel, batch: pa.RecordBatch, text_column: str) -> pa.RecordBatch:
    """One Arrow batch with ``label``, ``probability`` (6 decimals, as local batch files) and the version."""
    import pyarrow as pa

    texts = ["" if t is None else str(t) for t in batch.column(text_column).to_pylist()]
    proba = model.predict_proba(texts) if texts else np.zeros(0)
    labels = np.where(proba >= 0.5, LABELS[1], LABELS[0])
    kept = [name for name in batch.schema.names if name not in ADDED_COLUMNS]
    arrays = [batch.column(name) for name in kept]
    arrays += [
        pa.array(labels, pa.string()),
        pa.array(proba.round(6)),
        pa.array([model.version] * len(texts)),
    ]
    return pa.RecordBatch.from_arrays(arrays, names=[*kept, *ADDED_COLUMNS])


def _scorer(model_name: str, text_column: str):  # type: ignore[no-untyped-def]
    def score_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import SparkFiles

        model = _executor_model(SparkFiles.get(model_name))
        for batch in batches:
            yield score_table(model, batch, text_column)

    return score_batches


def scored(spark: SparkSession, df: DataFrame, model_dir: Path, text_column: str) -> DataFrame:
    """``df`` with the three added columns, partition for partition (no shuffle)."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    if text_column not in df.columns:
        raise PredictInputError(f"no column {text_column!r} (columns: {', '.join(df.columns)})")
    spark.sparkContext.addFile(str(model_dir), recursive=True)
    kept = [f for f in df.schema.fields if f.name not in ADDED_COLUMNS]
    schema = StructType(
        [
            *kept,
            StructField("label", StringType(), False),
            StructField("probability", DoubleType(), False),
            StructField("model_version", StringType(), False),
        ]
    )
    return df.mapInArrow(_scorer(model_dir.name, text_column), schema)


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
    with tempfile.TemporaryDirectory(prefix="sentiment-spark-model-") as tmp:
        # Saved afresh so any model URI (folder, registry) ships as one plain folder; a unique name,
        # since a session refuses a second file of the same name.
        model_dir = model.save(Path(tmp) / f"sentiment-model-{uuid.uuid4().hex[:12]}")
        out = scored(spark, df, model_dir, text_column)
        writer = out.write.mode("errorifexists")
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
