"""Labelled review files beside the IMDB archive: a team's own reviews and the feedback export.

A source is a CSV, JSONL or Parquet file with ``text`` and ``label`` columns (``label``: 0/1 or
``negative``/``positive``) and optional ``id``, ``source`` and ``timestamp``. Every file passes the
same validation, and an error names the file, the row (1-based, data rows) and the column.
``params.yaml`` (``sources``) says which files train and with what weight; each is a DVC-tracked
input, and the model card and the MLflow run record its checksum and row count.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sentiment_mlops.data.errors import DataError
from sentiment_mlops.files import file_sha256

log = logging.getLogger(__name__)

REQUIRED = ("text", "label")
OPTIONAL = ("id", "source", "timestamp")
LABEL_VALUES = {"0": 0, "1": 1, "negative": 0, "positive": 1, "neg": 0, "pos": 1}
MAX_LISTED = 5  # problems named in one error message; the rest are counted


def _read_any(path: Path) -> pd.DataFrame:
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    try:
        if suffix in (".csv", ".csv.gz"):
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".jsonl", ".jsonl.gz", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read it as {suffix.lstrip('.')}: {exc}") from exc
    raise DataError(f"{path}: unsupported file type {suffix!r}: use .csv, .jsonl or .parquet")


def _label_of(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return int(value)
    if isinstance(value, float | np.floating) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str):
        return LABEL_VALUES.get(value.strip().lower())
    return None


def validate_labelled(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Check a labelled frame; return it normalised (``label`` int8, optional columns filled)."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}")
    unknown = [c for c in df.columns if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise DataError(f"{path}: unexpected column(s) {', '.join(repr(str(c)) for c in unknown)}")
    if df.empty:
        raise DataError(f"{path}: no rows")
    problems: list[str] = []
    labels: list[int] = []
    for row, (text, raw) in enumerate(zip(df["text"], df["label"], strict=True), start=1):
        if not isinstance(text, str) or not text.strip():
            problems.append(f"row {row}, column 'text': empty or not a string ({text!r:.40})")
        label = _label_of(raw)
        if label is None:
            problems.append(f"row {row}, column 'label': {raw!r:.40} is not 0/1 or negative/positive")
        labels.append(-1 if label is None else label)
    out = df.copy()
    if "id" in out.columns:
        ids = out["id"].astype(str)
        for row in (np.flatnonzero(ids.duplicated(keep="first").to_numpy()) + 1).tolist():
            problems.append(f"row {row}, column 'id': duplicate id {ids.iloc[row - 1]!r:.40}")
    else:
        out["id"] = [f"{path.stem}/{i}" for i in range(1, len(out) + 1)]
    if "timestamp" in out.columns:
        stamps = pd.to_datetime(out["timestamp"], errors="coerce", utc=True)
        for row in (np.flatnonzero((stamps.isna() & out["timestamp"].notna()).to_numpy()) + 1).tolist():
            value = out["timestamp"].iloc[row - 1]
            problems.append(f"row {row}, column 'timestamp': {value!r:.40} is not a time")
        out["timestamp"] = stamps
    else:
        out["timestamp"] = pd.NaT
    if problems:
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise DataError(f"{path}: {len(problems)} problem(s): " + "; ".join(problems[:MAX_LISTED]) + more)
    out["label"] = np.asarray(labels, dtype=np.int8)
    out["id"] = out["id"].astype(str)
    out["source"] = out["source"].astype(str) if "source" in out.columns else path.stem
    return out[["id", "text", "label", "source", "timestamp"]].reset_index(drop=True)


def read_labelled(path: Path | str) -> pd.DataFrame:
    """Read and validate one labelled file (:class:`DataError` naming file, row and column)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"labelled source not found: {path}")
    return validate_labelled(_read_any(path), path)


def describe(path: Path, df: pd.DataFrame) -> dict[str, Any]:
    """What the card and the MLflow run record about a source."""
    return {
        "path": path.as_posix(),
        "sha256": file_sha256(path),
        "rows": len(df),
        "label_counts": {str(k): int(v) for k, v in df["label"].value_counts().sort_index().items()},
    }


def repeat_by_weight(df: pd.DataFrame, weight: float, seed: int) -> pd.DataFrame:
    """Weight a source by repetition: each row ``floor(weight)`` times, plus a seeded share for the
    fraction (weight 2.5: every row twice, half of them three times; weight 0.5: half the rows)."""
    whole, frac = int(weight), weight - int(weight)
    rng = np.random.default_rng(seed)
    counts = np.full(len(df), whole) + (rng.random(len(df)) < frac)
    return df.loc[df.index.repeat(counts)].reset_index(drop=True)


def with_sources(
    train: pd.DataFrame, sources: list[Any], root: Path, seed: int
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The training frame: IMDB ``train`` plus each labelled source of ``params.sources``, weighted.

    Returns the frame (``text``, ``label``) and one description per source for the card and MLflow.
    """
    frames = [train[["text", "label"]]]
    described: list[dict[str, Any]] = []
    for i, source in enumerate(sources):
        path = root / source.path
        if not path.is_file() and source.optional:
            log.info("labelled source %s is absent and optional: skipped", path)
            continue
        df = read_labelled(path)
        info = describe(path, df)
        info["path"] = source.path  # as params.yaml names it, not this machine's absolute path
        info.update(name=source.name, weight=source.weight)
        weighted = repeat_by_weight(df, source.weight, seed + i)
        info["rows_trained"] = len(weighted)
        frames.append(weighted[["text", "label"]])
        described.append(info)
        log.info("labelled source %s: %d rows, weight %g", source.name, len(df), source.weight)
    out = pd.concat(frames, ignore_index=True)
    out["label"] = out["label"].astype(np.int8)
    return out, described
