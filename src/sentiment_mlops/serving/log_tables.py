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
    (~2.4 µs a review, once): in the writer the same hashes would hold the GIL ~12 ms per
    segment. The texts are kept only when the log keeps them (``full``)."""
    hashes = [text_hash(t) for t in texts] if text_mode != "none" else None
    return (ids, texts if text_mode == "full" else None, hashes, probabilities, n_tokens, unseen_share, *meta)


def _flat(entries: list[Entry], k: int) -> list[Any]:
    return list(chain.from_iterable(e[k] for e in entries))


def _repeat(entries: list[Entry], k: int, counts: Any, type_: Any) -> Any:
    """A per-entry value, once per row of its entry."""
    import numpy as np
    import pyarrow as pa

    values = np.array([e[k] for e in entries], dtype=object)
    return pa.array(np.repeat(values, counts), type=type_)


def _ts(entries: list[Entry], k: int, counts: Any, type_: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    ms = (np.array([e[k] for e in entries], dtype=np.float64) * 1000).astype(np.int64)  # int(s * 1000)
    return pa.array(np.repeat(ms, counts), type=type_)


def _optional(entries: list[Entry], k: int, n: int, type_: Any) -> Any:
    """A column the entries all carry (a list each) or none does (``None``: all null)."""
    import pyarrow as pa

    if entries and entries[0][k] is None:
        return pa.nulls(n, type_)
    return pa.array(_flat(entries, k), type=type_)


def prediction_table(entries: list[Entry]) -> Any:
    """The predictions table of queued entries (see :func:`prediction_entry`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = arrow_schema(PREDICTIONS)
    t = schema.field
    counts = np.fromiter((len(e[0]) for e in entries), dtype=np.int64, count=len(entries))
    n = int(counts.sum())
    probability = pa.array(_flat(entries, 3), type=t("probability").type)
    positive = pc.greater_equal(probability, pa.scalar(0.5, pa.float64()))
    columns = [
        pa.array(_flat(entries, 0), type=t("id").type),
        _ts(entries, 10, counts, t("ts").type),
        _repeat(entries, 9, counts, t("role").type),
        _repeat(entries, 6, counts, t("model_name").type),
        _repeat(entries, 7, counts, t("model_version").type),
        _repeat(entries, 8, counts, t("route").type),
        _optional(entries, 1, n, t("text").type),
        _optional(entries, 2, n, t("text_sha256").type),
        probability,
        pc.if_else(positive, pa.scalar("positive"), pa.scalar("negative")),
        pa.array(_flat(entries, 4), type=t("n_tokens").type),
        pa.array(_flat(entries, 5), type=t("unseen_share").type),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def feedback_table(entries: list[Entry]) -> Any:
    """The feedback table of queued ``(ids, labels, ts)`` entries."""
    import numpy as np
    import pyarrow as pa

    schema = arrow_schema(FEEDBACK)
    counts = np.fromiter((len(e[0]) for e in entries), dtype=np.int64, count=len(entries))
    columns = [
        pa.array(_flat(entries, 0), type=pa.string()),
        _ts(entries, 2, counts, schema.field("ts").type),
        pa.array(_flat(entries, 1), type=pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=schema)
