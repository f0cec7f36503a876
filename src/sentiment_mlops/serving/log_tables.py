"""The prediction log's two tables: their columns, their Arrow schemas, and how the writer thread
turns the entries the request path queued into columns."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

TextMode = Literal["full", "hash", "none"]
TEXT_MODES: tuple[str, ...] = ("full", "hash", "none")
PREDICTIONS = "predictions"
FEEDBACK = "feedback"

PREDICTION_COLUMNS = (
    "id",
    "ts",
    "role",
    "model_name",
    "model_version",
    "route",
    "text",
    "text_sha256",
    "probability",
    "label",
    "n_tokens",
    "unseen_share",
)
FEEDBACK_COLUMNS = ("id", "ts", "label")


def text_hash(text: str) -> str:
    """The sha256 of a review's UTF-8 bytes: joins without keeping the text itself."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _schema(table: str) -> Any:
    import pyarrow as pa

    ts = pa.timestamp("ms", tz="UTC")
    if table == FEEDBACK:
        return pa.schema([("id", pa.string()), ("ts", ts), ("label", pa.string())])
    return pa.schema(
        [
            ("id", pa.string()),
            ("ts", ts),
            ("role", pa.string()),
            ("model_name", pa.string()),
            ("model_version", pa.string()),
            ("route", pa.string()),
            ("text", pa.large_string()),
            ("text_sha256", pa.string()),
            ("probability", pa.float64()),
            ("label", pa.string()),
            ("n_tokens", pa.int32()),
            ("unseen_share", pa.float32()),
        ]
    )


Entry = tuple[Any, ...]  # one queued batch, as the request path handed it over


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def prediction_columns(entries: list[Entry], text_mode: TextMode) -> dict[str, list[Any]]:
    """The predictions table's columns from queued entries (see :meth:`PredictionLog.log_predictions`)."""
    columns: dict[str, list[Any]] = {name: [] for name in PREDICTION_COLUMNS}
    for ids, texts, probabilities, n_tokens, unseen, name, version, route, role, ts in entries:
        n = len(ids)
        columns["id"].extend(ids)
        columns["ts"].extend([_ms(ts)] * n)
        columns["role"].extend([role] * n)
        columns["model_name"].extend([name] * n)
        columns["model_version"].extend([version] * n)
        columns["route"].extend([route] * n)
        columns["text"].extend(texts if text_mode == "full" else [None] * n)
        columns["text_sha256"].extend([text_hash(t) for t in texts] if text_mode != "none" else [None] * n)
        columns["probability"].extend(probabilities)
        columns["label"].extend(["positive" if p >= 0.5 else "negative" for p in probabilities])
        columns["n_tokens"].extend(n_tokens)
        columns["unseen_share"].extend(unseen)
    return columns


def feedback_columns(entries: list[Entry]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [] for name in FEEDBACK_COLUMNS}
    for ids, labels, ts in entries:
        columns["id"].extend(ids)
        columns["ts"].extend([_ms(ts)] * len(ids))
        columns["label"].extend(labels)
    return columns
