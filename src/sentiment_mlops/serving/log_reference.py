"""The prediction log's column builder before issue #14, in Python lists: kept as the reference the
Arrow builder (:mod:`.log_tables`) is tested against (it must give the same tables) and benchmarked
against (``bench/bench_prediction_log.py``: how long each holds the GIL per segment). Not used by
the service.

Its entries are the old request-side tuple, ``(ids, texts, probabilities, n_tokens, unseen_share,
model_name, model_version, route, role, ts)``: the texts always kept, hashed here in the writer.
"""

from __future__ import annotations

from typing import Any

from sentiment_mlops.data.log_format import (
    FEEDBACK,
    FEEDBACK_COLUMNS,
    PREDICTION_COLUMNS,
    PREDICTIONS,
    TextMode,
    arrow_schema,
    text_hash,
)

Entry = tuple[Any, ...]


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def prediction_columns(entries: list[Entry], text_mode: TextMode) -> dict[str, list[Any]]:
    """The predictions table's columns from old-style entries."""
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


def prediction_table(entries: list[Entry], text_mode: TextMode) -> Any:
    """The old path whole: the lists, then ``pa.Table.from_pydict`` (as ``_write`` did)."""
    import pyarrow as pa

    return pa.Table.from_pydict(prediction_columns(entries, text_mode), schema=arrow_schema(PREDICTIONS))


def feedback_table(entries: list[Entry]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pydict(feedback_columns(entries), schema=arrow_schema(FEEDBACK))
