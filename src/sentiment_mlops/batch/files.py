"""Batch prediction: score a CSV, JSONL or parquet file into another, streaming in chunks.

The input is read chunk by chunk and the output written chunk by chunk to a temporary file that is
renamed into place at the end, so a file larger than memory works and a failure leaves nothing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from sentiment_mlops.files import atomic_path
from sentiment_mlops.model.artifact import SentimentModel

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


class PredictInputError(ValueError):
    """The input file cannot be read or lacks the text column."""


def file_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file's suffix."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise PredictInputError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(sorted(FORMATS))}"
        ) from None


def format_one(model: SentimentModel, review: str) -> str:
    """One review's result as a JSON line."""
    p = model.predict([review])[0]
    return json.dumps(
        {"label": p.label, "probability": round(p.probability, 6), "model_version": model.version}
    )


def _chunks(path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    kind = file_format(path)
    if not path.is_file():
        raise PredictInputError(f"{path}: no such file")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
                yield batch.to_pandas()
        elif kind == "csv":
            yield from pd.read_csv(path, chunksize=batch_size, dtype=str, keep_default_na=False)
        else:
            yield from pd.read_json(path, lines=True, chunksize=batch_size, dtype=False)
    except PredictInputError:
        raise
    except Exception as exc:  # OSError, UnicodeDecodeError, and pyarrow's and pandas' own parse errors
        raise PredictInputError(f"{path}: cannot read as {kind}: {exc}") from exc


def _score(model: SentimentModel, chunk: pd.DataFrame, text_column: str, source: Path) -> pd.DataFrame:
    if text_column not in chunk.columns:
        raise PredictInputError(
            f"{source}: no column {text_column!r} (columns: {', '.join(map(str, chunk.columns))})"
        )
    texts = chunk[text_column].fillna("").astype(str).tolist()
    proba = model.predict_proba(texts)
    out = chunk.copy()
    out["label"] = ["positive" if p >= 0.5 else "negative" for p in proba]
    out["probability"] = proba.round(6)
    return out


def predict_file(
    model: SentimentModel, source: Path, dest: Path, text_column: str = "text", batch_size: int = 10_000
) -> int:
    """Score every row of ``source`` into ``dest`` (format from its suffix); return the row count."""
    from tqdm import tqdm

    kind = file_format(dest)
    rows = 0
    writer: Any = None
    with atomic_path(dest) as tmp, tqdm(unit=" reviews", desc="scoring", disable=None) as bar:
        try:
            with tmp.open("w", encoding="utf-8") if kind != "parquet" else contextlib.nullcontext() as handle:
                for index, chunk in enumerate(_chunks(source, batch_size)):
                    scored = _score(model, chunk, text_column, source)
                    if kind == "csv":
                        scored.to_csv(handle, header=index == 0, index=False)
                    elif kind == "jsonl":
                        scored.to_json(handle, orient="records", lines=True, force_ascii=False)
                    else:
                        import pyarrow as pa
                        import pyarrow.parquet as pq

                        table = pa.Table.from_pandas(scored, preserve_index=False)
                        writer = writer or pq.ParquetWriter(tmp, table.schema)
                        writer.write_table(table)
                    rows += len(scored)
                    bar.update(len(scored))
        finally:
            if writer is not None:
                writer.close()
        if rows == 0 and kind == "parquet":
            raise PredictInputError(f"{source}: no rows to score")
    return rows
