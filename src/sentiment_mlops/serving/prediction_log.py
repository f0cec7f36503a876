"""The prediction log: every served prediction and every feedback label, as Parquet segments.

Rows leave the request path through a bounded in-memory buffer per worker process; a writer
thread turns them into Hive-partitioned segments (``<table>/date=YYYY-MM-DD/part-….parquet``) under
a local folder or any fsspec URL (``s3://bucket/prefix``). The bound counts every row not yet in a
finished segment (queued or being written), so a SIGKILLed worker loses at most ``bound`` rows.
A full buffer drops the row and counts it: a request never waits for the log and never fails
because of it. A segment appears whole or not at all: locally it is written beside its final name
and renamed; on an object store it is one PUT. Readers (pyarrow datasets) skip ``.``-names.

The ``role`` column says which model answered (``champion`` now; a shadow or canary later), so a
later rollout logs into the same tables and joins on the same ids.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import io
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class LogSettings:
    """Where and how the log is written (from the environment in the server, see :func:`from_env`)."""

    url: str
    text_mode: TextMode = "full"
    bound: int = 10_000  # rows per worker not yet in a finished segment
    segment_rows: int = 5_000  # a segment is cut at this many rows ...
    flush_seconds: float = 10.0  # ... or when its oldest row is this old

    def __post_init__(self) -> None:
        if self.text_mode not in TEXT_MODES:
            raise ValueError(f"prediction log text mode must be one of {TEXT_MODES}, got {self.text_mode!r}")
        if self.bound < 1 or self.segment_rows < 1 or self.flush_seconds <= 0:
            raise ValueError("prediction log bound, segment rows and flush seconds must be positive")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LogSettings | None:
        """``SENTIMENT_PREDICTION_LOG`` (URL or folder, ``off`` disables; default ``prediction-log``),
        ``…_TEXT`` (full | hash | none), ``…_QUEUE``, ``…_SEGMENT_ROWS``, ``…_FLUSH_SECONDS``."""
        env = dict(os.environ if env is None else env)
        url = env.get("SENTIMENT_PREDICTION_LOG", "prediction-log").strip()
        if url.lower() in ("", "off", "none", "false", "0"):
            return None
        return cls(
            url=url,
            text_mode=env.get("SENTIMENT_PREDICTION_LOG_TEXT", "full").strip().lower(),  # type: ignore[arg-type]
            bound=int(env.get("SENTIMENT_PREDICTION_LOG_QUEUE", "10000")),
            segment_rows=int(env.get("SENTIMENT_PREDICTION_LOG_SEGMENT_ROWS", "5000")),
            flush_seconds=float(env.get("SENTIMENT_PREDICTION_LOG_FLUSH_SECONDS", "10")),
        )


Counter = Callable[[str, int], None]  # (table, rows)


class SegmentWriter:
    """One table's buffer and writer thread. Safe to create before a fork: the buffer, lock and
    thread belong to the process that first offers a row (gunicorn forks workers after preload)."""

    def __init__(
        self,
        settings: LogSettings,
        table: str,
        on_written: Counter | None = None,
        on_dropped: Counter | None = None,
    ) -> None:
        self.settings = settings
        self.table = table
        self._on_written = on_written or (lambda _t, _n: None)
        self._on_dropped = on_dropped or (lambda _t, _n: None)
        self._pid = -1
        self._seq = 0

    # --- the request side -------------------------------------------------------------

    def offer(self, columns: dict[str, list[Any]], n: int) -> bool:
        """Queue ``n`` rows given as columns; ``False`` (and counted as dropped) when full."""
        if self._pid != os.getpid():
            self._start()
        with self._cond:
            if self._closed or self._pending + n > self.settings.bound:
                accepted = False
            else:
                self._pending += n
                self._batches.append((columns, n))
                if len(self._batches) == 1:
                    self._cond.notify()
                accepted = True
        if not accepted:
            self._on_dropped(self.table, n)
        return accepted

    @property
    def pending(self) -> int:
        """Rows of this process not yet in a finished segment."""
        return self._pending if self._pid == os.getpid() else 0

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread (SIGTERM, worker recycling, exit)."""
        if self._pid != os.getpid():
            return  # nothing was ever offered in this process
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    # --- the writer thread ------------------------------------------------------------

    def _start(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._batches: list[tuple[dict[str, list[Any]], int]] = []
        self._pending = 0
        self._closed = False
        self._prefix = f"{socket.gethostname()}-{self._pid}-{uuid.uuid4().hex[:8]}"
        self._thread = threading.Thread(target=self._run, name=f"prediction-log-{self.table}", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        buffer: dict[str, list[Any]] = {}
        buffered = 0
        first_at = 0.0
        while True:
            with self._cond:
                while not self._batches and not self._closed:
                    wait = None if not buffered else first_at + self.settings.flush_seconds - time.monotonic()
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                batches, self._batches = self._batches, []
                closing = self._closed
            for columns, n in batches:
                if not buffered:
                    first_at = time.monotonic()
                for name, values in columns.items():
                    buffer.setdefault(name, []).extend(values)
                buffered += n
            due = time.monotonic() - first_at >= self.settings.flush_seconds
            if buffered and (buffered >= self.settings.segment_rows or due or closing):
                self._flush(buffer, buffered)
                buffer, buffered = {}, 0
            if closing and not buffered:
                with self._cond:
                    if not self._batches:
                        return

    def _flush(self, columns: dict[str, list[Any]], n: int) -> None:
        try:
            self._write(columns)
        except Exception:
            log.exception("prediction log: could not write a %s segment of %d rows", self.table, n)
            self._on_dropped(self.table, n)
        else:
            self._on_written(self.table, n)
        finally:
            with self._cond:
                self._pending -= n

    def _write(self, columns: dict[str, list[Any]]) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        table = pa.Table.from_pydict(columns, schema=_schema(self.table))
        dates = pc.strftime(table["ts"], format="%Y-%m-%d")
        days = pc.unique(dates).to_pylist()
        for date in days:
            part = table if len(days) == 1 else table.filter(pc.equal(dates, date))
            self._seq += 1
            name = f"part-{time.strftime('%Y%m%dT%H%M%S')}-{self._prefix}-{self._seq:06d}.parquet"
            write_segment(self.settings.url, f"{self.table}/date={date}/{name}", part)


def write_segment(root_url: str, relative: str, table: Any) -> str:
    """Write ``table`` as one Parquet file at ``root_url/relative``, atomically; return its path."""
    import fsspec
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(root_url)
    path = f"{root.rstrip('/')}/{relative}"
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue()
    if "file" in _protocols(fs):
        folder, name = path.rsplit("/", 1)
        fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"  # hidden: readers skip it
        with fs.open(tmp, "wb") as handle:
            handle.write(data)
        fs.mv(tmp, path)  # a rename in one folder: the segment appears whole
    else:
        fs.pipe_file(path, data)  # an object store's PUT is atomic: whole object or none
    return path


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


class PredictionLog:
    """The two tables the service writes: predictions (one row per scored review) and feedback."""

    def __init__(
        self, settings: LogSettings, on_written: Counter | None = None, on_dropped: Counter | None = None
    ):
        self.settings = settings
        self.predictions = SegmentWriter(settings, PREDICTIONS, on_written, on_dropped)
        self.feedback = SegmentWriter(settings, FEEDBACK, on_written, on_dropped)

    def log_predictions(
        self,
        ids: list[str],
        texts: list[str],
        probabilities: list[float],
        n_tokens: list[int],
        unseen_share: list[float],
        model_name: str,
        model_version: str,
        route: str,
        role: str = "champion",
    ) -> bool:
        """Queue one scored batch (never blocks; ``False`` if it was dropped)."""
        n = len(ids)
        mode = self.settings.text_mode
        now = dt.datetime.now(dt.UTC)
        columns: dict[str, list[Any]] = {
            "id": ids,
            "ts": [now] * n,
            "role": [role] * n,
            "model_name": [model_name] * n,
            "model_version": [model_version] * n,
            "route": [route] * n,
            "text": texts if mode == "full" else [None] * n,
            "text_sha256": [text_hash(t) for t in texts] if mode != "none" else [None] * n,
            "probability": probabilities,
            "label": ["positive" if p >= 0.5 else "negative" for p in probabilities],
            "n_tokens": n_tokens,
            "unseen_share": unseen_share,
        }
        return self.predictions.offer(columns, n)

    def log_feedback(self, ids: list[str], labels: list[str]) -> bool:
        now = dt.datetime.now(dt.UTC)
        return self.feedback.offer({"id": ids, "ts": [now] * len(ids), "label": labels}, len(ids))

    def close(self, timeout: float = 30.0) -> None:
        self.predictions.close(timeout)
        self.feedback.close(timeout)
