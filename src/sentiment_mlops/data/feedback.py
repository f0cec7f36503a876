"""``sentiment feedback export``: join the prediction log with the feedback labels into training data.

The service logs predictions and feedback separately (labels arrive later, at any worker); the join
happens here, by id. The latest label for an id wins, and ids labelled both ways are counted as
conflicts. Reviews whose text also appears in the evaluation set are dropped (a leakage guard: a
model must never train on what judges it). The newest part of the joined rows is held out as the
production window that ``sentiment compare`` judges a challenger on; the rest is a labelled file
that ``dvc repro`` trains on (``params.yaml`` ``sources``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.log_format import (
    FEEDBACK,
    FEEDBACK_COLUMNS,
    PREDICTION_COLUMNS,
    PREDICTIONS,
    text_hash,
)
from sentiment_mlops.data.log_format import filesystem as log_filesystem
from sentiment_mlops.files import atomic_path

log = logging.getLogger(__name__)

LABELS = {"negative": 0, "positive": 1}


def read_log(url: str, table: str) -> pd.DataFrame:
    """Every finished segment of one table (``predictions`` or ``feedback``) under ``url``."""
    import pyarrow.dataset as ds
    from pyarrow import fs as pafs

    columns = PREDICTION_COLUMNS if table == PREDICTIONS else FEEDBACK_COLUMNS
    fs, root = log_filesystem(url)
    folder = f"{root}/{table}"
    if fs.get_file_info(folder).type == pafs.FileType.NotFound:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    try:
        dataset = ds.dataset(
            folder, filesystem=fs, format="parquet", partitioning="hive", ignore_prefixes=[".", "_"]
        )
        frame = dataset.to_table(columns=list(columns)).to_pandas()
    except Exception as exc:  # pyarrow raises several types for an unreadable segment
        raise DataError(f"cannot read the prediction log's {table} under {url}: {exc}") from exc
    return frame


@dataclass
class ExportStats:
    predictions: int = 0
    feedback_rows: int = 0
    labelled_ids: int = 0
    duplicates: int = 0  # feedback rows beyond the first for an id
    conflicts: int = 0  # ids labelled both ways (the latest label wins)
    unknown_ids: int = 0  # feedback for an id the log does not hold
    invalid_labels: int = 0
    without_text: int = 0  # logged with text mode hash/none: cannot train
    leaked: int = 0  # text also in the evaluation set: dropped
    repeated_texts: int = 0  # the same review labelled under several ids: kept once
    trained: int = 0
    window: int = 0


def latest_labels(feedback: pd.DataFrame, stats: ExportStats) -> pd.DataFrame:
    """One row per id: its latest valid label (``label`` 0/1, ``labelled_at``)."""
    fb = feedback.copy()
    fb["y"] = fb["label"].map(LABELS)
    stats.invalid_labels = int(fb["y"].isna().sum())
    fb = fb.dropna(subset=["y"]).sort_values("ts", kind="stable")
    stats.duplicates = int(fb["id"].duplicated().sum())
    stats.conflicts = int((fb.groupby("id")["y"].nunique() > 1).sum())
    latest = fb.drop_duplicates("id", keep="last")
    labels = latest["y"].astype(np.int8)
    return pd.DataFrame({"id": latest["id"], "label": labels, "labelled_at": latest["ts"]})


def join(
    predictions: pd.DataFrame, feedback: pd.DataFrame, evaluation_texts: Iterable[str]
) -> tuple[pd.DataFrame, ExportStats]:
    """Labelled production reviews, oldest first, without evaluation texts; and what was dropped."""
    stats = ExportStats(predictions=len(predictions), feedback_rows=len(feedback))
    labels = latest_labels(feedback, stats)
    # A shadow's rows share the served prediction's id (serving/shadow.py); training and the
    # production window take what was served.
    served = predictions[predictions["role"] != "shadow"]
    preds = served.drop_duplicates("id", keep="first")
    joined = labels.merge(preds[["id", "ts", "text", "probability", "model_version"]], on="id", how="left")
    known = joined["ts"].notna()
    stats.unknown_ids = int((~known).sum())
    joined = joined[known]
    has_text = joined["text"].notna() & (joined["text"].astype(str).str.strip() != "")
    stats.without_text = int((~has_text).sum())
    joined = joined[has_text]
    stats.labelled_ids = len(joined)
    banned = {text_hash(t.strip()) for t in evaluation_texts}
    hashes = joined["text"].map(lambda t: text_hash(t.strip()))
    leaked = hashes.isin(banned)
    stats.leaked = int(leaked.sum())
    joined = joined[~leaked].assign(_hash=hashes[~leaked])
    joined = joined.sort_values("ts", kind="stable")
    repeated = joined["_hash"].duplicated(keep="last")  # keep the latest labelling of a text
    stats.repeated_texts = int(repeated.sum())
    joined = joined[~repeated].drop(columns="_hash").reset_index(drop=True)
    return joined, stats


def split_window(joined: pd.DataFrame, fraction: float, minimum: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train part, newest ``fraction`` held out, at least ``minimum`` rows when there are that many)."""
    n_window = min(len(joined), max(round(fraction * len(joined)), minimum)) if fraction > 0 else 0
    cut = len(joined) - n_window
    return joined.iloc[:cut], joined.iloc[cut:]


def _labelled_frame(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": rows["id"].astype(str),
            "text": rows["text"].astype(str),
            "label": rows["label"].astype(np.int8),
            "source": "feedback",
            "timestamp": pd.to_datetime(rows["ts"], utc=True),
        }
    ).reset_index(drop=True)


def _write(df: pd.DataFrame, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        df.to_parquet(tmp, index=False, compression="zstd")


def export(
    log_url: str,
    evaluation_texts: Iterable[str],
    train_out: Path,
    window_out: Path,
    holdout_fraction: float,
    min_holdout: int,
) -> dict[str, Any]:
    """Join, guard, split and write both files atomically; return the counts."""
    predictions, feedback = read_log(log_url, PREDICTIONS), read_log(log_url, FEEDBACK)
    if feedback.empty:
        raise DataError(f"no feedback under {log_url}: nothing to export")
    joined, stats = join(predictions, feedback, evaluation_texts)
    if joined.empty:
        raise DataError(f"no labelled prediction with text under {log_url} (see the counts: {asdict(stats)})")
    train_part, window = split_window(joined, holdout_fraction, min_holdout)
    stats.trained, stats.window = len(train_part), len(window)
    _write(_labelled_frame(train_part), train_out)
    _write(_labelled_frame(window), window_out)
    log.info("feedback export: %d rows to train, %d in the production window", stats.trained, stats.window)
    return asdict(stats)
