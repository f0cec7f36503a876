"""How the prediction log's writer thread turns the entries the request path queued into the
columns of the log's two tables (their format: :mod:`sentiment_mlops.data.log_format`)."""

from __future__ import annotations

from typing import Any

from sentiment_mlops.data.log_format import FEEDBACK_COLUMNS, PREDICTION_COLUMNS, TextMode, text_hash

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
