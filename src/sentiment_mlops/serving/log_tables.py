"""How the prediction log's writer thread turns the entries the request path queued into Arrow
tables of the log's two tables (their format: :mod:`sentiment_mlops.data.log_format`).

The writer holds the GIL while it builds: the columns go straight from the queued lists into Arrow
(one ``pa.array`` per column over the flattened lists, numpy repeats for what is constant per
entry, Arrow compute for the label), not through per-row Python lists, so a 5,000-row segment
holds the GIL a few milliseconds instead of ~14 (``bench/bench_prediction_log.py``).
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from sentiment_mlops.data.log_format import FEEDBACK, PREDICTIONS, TextMode, arrow_schema, text_hash

# One queued batch, as :meth:`PredictionLog.log_predictions` hands it over:
# (ids, texts | None, hashes | None, probabilities, n_tokens, unseen_share,
#  model_name, model_version, route, role, ts)
Entry = tuple[Any, ...]


def prediction_entry(
    text_mode: TextMode,
    ids: list[str],
    texts: list[str],
    probabilities: list[float],
    n_tokens: list[int],
    unseen_share: list[float],
    meta: tuple[str, str, str, str, float],
) -> Entry:
    """The entry the request path queues. The texts are hashed here, on the request thread
    (~2 µs a review, once): in the writer the same hashes would hold the GIL ~10 ms per
    segment. The texts are kept only when the log keeps them (``full``).

    Everything is a tuple of strings and numbers, which the garbage collector stops tracking at
    its first pass: queued lists would be tracked until written, thousands of containers per
    segment promoted to the oldest generation, and that promotion is what sets off full
    collections, each a pause of tens of milliseconds in a worker holding the preloaded app."""
    hashes = tuple([text_hash(t) for t in texts]) if text_mode != "none" else None
    kept = tuple(texts) if text_mode == "full" else None
    return (tuple(ids), kept, hashes, tuple(probabilities), tuple(n_tokens), tuple(unseen_share), *meta)


def _flat(entries: list[Entry], k: int, single: bool) -> list[Any]:
    """Field ``k`` (a list per entry) of every entry, in one list."""
    if single:
        return [e[k][0] for e in entries]  # single-review entries: one pass, no chain
    return list(chain.from_iterable([e[k] for e in entries]))


def _numbers(entries: list[Entry], k: int, single: bool, dtype: Any) -> Any:
    """A numeric column through numpy (faster than ``pa.array`` over Python numbers)."""
    import numpy as np
    import pyarrow as pa

    return pa.array(np.fromiter(_flat(entries, k, single), dtype=dtype))


def _per_entry(entries: list[Entry], k: int, counts: Any, n: int, type_: Any) -> Any:
    """A value given once per entry, repeated for each row of its entry. Mostly the same value in
    every entry (one model, one route): then one Arrow repeat, no per-row objects at all."""
    import numpy as np
    import pyarrow as pa

    values = [e[k] for e in entries]
    if values.count(values[0]) == len(values):
        return pa.repeat(pa.scalar(values[0], type_), n)
    array = np.array(values, dtype=object)
    return pa.array(array if counts is None else np.repeat(array, counts), type=type_)


def _ts(entries: list[Entry], k: int, counts: Any, type_: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    seconds = np.fromiter([e[k] for e in entries], dtype=np.float64, count=len(entries))
    ms = (seconds * 1000).astype(np.int64)  # int(seconds * 1000), as before
    return pa.array(ms if counts is None else np.repeat(ms, counts), type=type_)


def _optional(entries: list[Entry], k: int, n: int, single: bool, type_: Any) -> Any:
    """A column the entries all carry (a list each) or none does (``None``: all null)."""
    import pyarrow as pa

    if entries[0][k] is None:
        return pa.nulls(n, type_)
    return pa.array(_flat(entries, k, single), type=type_)


def prediction_table(entries: list[Entry]) -> Any:
    """The predictions table of queued entries (see :func:`prediction_entry`); at least one."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = arrow_schema(PREDICTIONS)
    t = schema.field
    sizes = [len(e[0]) for e in entries]
    # single-review requests queue one-row entries: no repeats, no chains
    single = sizes.count(1) == len(sizes)
    counts = None if single else np.array(sizes, dtype=np.int64)
    ids = _flat(entries, 0, single)
    n = len(ids)
    probability = _numbers(entries, 3, single, np.float64)
    positive = pc.greater_equal(probability, pa.scalar(0.5, pa.float64()))
    columns = [
        pa.array(ids, type=t("id").type),
        _ts(entries, 10, counts, t("ts").type),
        _per_entry(entries, 9, counts, n, t("role").type),
        _per_entry(entries, 6, counts, n, t("model_name").type),
        _per_entry(entries, 7, counts, n, t("model_version").type),
        _per_entry(entries, 8, counts, n, t("route").type),
        _optional(entries, 1, n, single, t("text").type),
        _optional(entries, 2, n, single, t("text_sha256").type),
        probability,
        pc.if_else(positive, pa.scalar("positive"), pa.scalar("negative")),
        _numbers(entries, 4, single, np.int32),
        _numbers(entries, 5, single, np.float32),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def feedback_table(entries: list[Entry]) -> Any:
    """The feedback table of queued ``(ids, labels, ts)`` entries."""
    import numpy as np
    import pyarrow as pa

    schema = arrow_schema(FEEDBACK)
    sizes = [len(e[0]) for e in entries]
    single = sizes.count(1) == len(sizes)
    counts = None if single else np.array(sizes, dtype=np.int64)
    columns = [
        pa.array(_flat(entries, 0, single), type=pa.string()),
        _ts(entries, 2, counts, schema.field("ts").type),
        pa.array(_flat(entries, 1, single), type=pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=schema)
