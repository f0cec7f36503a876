"""The prediction log: every served prediction and every feedback label, as Parquet segments.

Rows leave the request path through a bounded in-memory buffer per worker process; a writer
thread turns them into Hive-partitioned segments (``<table>/date=YYYY-MM-DD/part-….parquet``) under
a local folder or an object store URL (``s3://bucket/prefix``, see :mod:`.log_sink`). The bound
counts every row not yet in a finished segment (queued or being written), so a SIGKILLed worker
loses at most ``bound`` rows. A full buffer drops the row and counts it: a request never waits for
the log and never fails because of it. The request path appends one tuple per scored batch (and
hashes its texts, see :func:`.log_tables.prediction_entry`); the writer thread builds the Arrow
columns and labels, :data:`SLICE_ENTRIES` queued entries at a time with a short sleep between
slices, so that a request thread waiting for the GIL gets it back within about a millisecond
rather than after the whole segment. A segment appears whole or not at all:
locally it is written beside its final name and renamed; on an object store it is one upload.
Readers (pyarrow datasets) skip ``.``-names.

The ``role`` column says which model answered (``champion`` now; a shadow or canary later), so a
later rollout logs into the same tables and joins on the same ids.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentiment_mlops.config import DEFAULT_LOG_URL, LOG_URL_ENV
from sentiment_mlops.data.log_format import (
    CHAMPION,
    FEEDBACK,
    PREDICTIONS,
    TEXT_MODES,
    TextMode,
)

from .log_sink import write_segment
from .log_tables import Entry, feedback_table, prediction_entry, prediction_table

log = logging.getLogger(__name__)

# The writer builds a segment in slices of this many queued entries and sleeps between them: a
# slice of single-review entries holds the GIL ~0.5 ms; the sleep lets waiting request threads in.
SLICE_ENTRIES = 500
SLICE_PAUSE_S = 0.0002
WRITER_MODULES = ("numpy", "pyarrow", "pyarrow.compute", "pyarrow.fs", "pyarrow.parquet")


def prepare_writer() -> None:
    """Import what the writer thread needs (pyarrow and its compute, Parquet and filesystem
    modules, numpy) and build a one-row table, which makes pyarrow import pandas (its first
    conversion of Python objects does; ~1.4 s here) and set up its compute kernels. Called in the
    gunicorn master before it binds and forks (``on_starting`` in ``gunicorn_conf``), so no worker does this
    on its first segment, holding the GIL for much of it. Starts no thread and writes nothing."""
    for name in WRITER_MODULES:
        importlib.import_module(name)
    meta = (CHAMPION, "warm-up", "-", CHAMPION, time.time())
    prediction_table([prediction_entry("full", ["warm-up"], ["warm-up"], [0.5], [1], [0.0], meta)])
    feedback_table([(("warm-up",), ("positive",), time.time())])


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
        url = env.get(LOG_URL_ENV, DEFAULT_LOG_URL).strip()
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
Build = Callable[[list[Entry]], Any]  # entries -> a pyarrow Table (in the writer thread)


class SegmentWriter:
    """One table's buffer and writer thread. Safe to create before a fork: the buffer, lock and
    thread belong to the process that first offers a row (gunicorn forks workers after preload)."""

    # set by _start, in the process that first offers a row
    _cond: threading.Condition
    _entries: list[Entry]  # no (entry, n) pairs: one more tracked object per row for the GC
    _queued: int  # rows in _entries (the writer has not taken them yet)
    _first_at: float  # when the first of them came
    _pending: int
    _closed: bool
    _prefix: str
    _thread: threading.Thread

    def __init__(
        self,
        settings: LogSettings,
        table: str,
        build: Build,
        on_written: Counter | None = None,
        on_dropped: Counter | None = None,
    ) -> None:
        self.settings = settings
        self.table = table
        self._build = build
        self._on_written = on_written or (lambda _t, _n: None)
        self._on_dropped = on_dropped or (lambda _t, _n: None)
        self._pid = -1
        self._seq = 0

    # --- the request side -------------------------------------------------------------

    def offer(self, entry: Entry, n: int) -> bool:
        """Queue one entry of ``n`` rows; ``False`` (and counted as dropped) when full. The writer
        is woken twice per segment (its first entry starts the flush timer, a full segment cuts
        it), not per row: a thread woken per row would take the GIL from the request threads."""
        if self._pid != os.getpid():
            self._start()
        with self._cond:
            accepted = not self._closed and self._pending + n <= self.settings.bound
            if accepted:
                self._pending += n
                self._entries.append(entry)
                queued = self._queued = self._queued + n
                if queued == n:
                    self._first_at = time.monotonic()
                    self._cond.notify()
                elif queued >= self.settings.segment_rows > queued - n:
                    self._cond.notify()
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
        self._entries = []
        self._queued = 0
        self._first_at = 0.0
        self._pending = 0
        self._closed = False
        self._prefix = f"{socket.gethostname()}-{self._pid}-{uuid.uuid4().hex[:8]}"
        self._thread = threading.Thread(target=self._run, name=f"prediction-log-{self.table}", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and self._queued < self.settings.segment_rows:
                    wait = (
                        None
                        if not self._queued
                        else self._first_at + self.settings.flush_seconds - time.monotonic()
                    )
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                entries, self._entries = self._entries, []
                queued, self._queued = self._queued, 0
                closing = self._closed
            if entries:
                self._flush(entries, queued)
            if closing:
                with self._cond:
                    if not self._entries:
                        return

    def _flush(self, entries: list[Entry], n: int) -> None:
        try:
            self._write(self._table(entries))
        except Exception:
            log.exception("prediction log: could not write a %s segment of %d rows", self.table, n)
            self._on_dropped(self.table, n)
        else:
            self._on_written(self.table, n)
        finally:
            with self._cond:
                self._pending -= n

    def _table(self, entries: list[Entry]) -> Any:
        """The segment's table, built slice by slice (the slices stay chunks of one table)."""
        import pyarrow as pa

        parts = []
        for start in range(0, len(entries), SLICE_ENTRIES):
            if start:
                time.sleep(SLICE_PAUSE_S)  # releases the GIL: a waiting request thread runs now
            parts.append(self._build(entries[start : start + SLICE_ENTRIES]))
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def _write(self, table: Any) -> None:
        import pyarrow.compute as pc

        dates = pc.strftime(table["ts"], format="%Y-%m-%d")
        days = pc.unique(dates).to_pylist()
        for date in days:
            part = table if len(days) == 1 else table.filter(pc.equal(dates, date))
            self._seq += 1
            name = f"part-{time.strftime('%Y%m%dT%H%M%S')}-{self._prefix}-{self._seq:06d}.parquet"
            write_segment(self.settings.url, f"{self.table}/date={date}/{name}", part)


class PredictionLog:
    """The two tables the service writes: predictions (one row per scored review) and feedback."""

    def __init__(
        self, settings: LogSettings, on_written: Counter | None = None, on_dropped: Counter | None = None
    ):
        self.settings = settings
        self.predictions = SegmentWriter(settings, PREDICTIONS, prediction_table, on_written, on_dropped)
        self.feedback = SegmentWriter(settings, FEEDBACK, feedback_table, on_written, on_dropped)

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
        role: str = CHAMPION,
    ) -> bool:
        """Queue one scored batch (never blocks; ``False`` if it was dropped). The lists are kept,
        not copied: the caller must not change them afterwards."""
        meta = (model_name, model_version, route, role, time.time())
        entry = prediction_entry(
            self.settings.text_mode, ids, texts, probabilities, n_tokens, unseen_share, meta
        )
        return self.predictions.offer(entry, len(ids))

    def log_feedback(self, ids: list[str], labels: list[str]) -> bool:
        # tuples, not lists: the garbage collector stops tracking them (see prediction_entry)
        return self.feedback.offer((tuple(ids), tuple(labels), time.time()), len(ids))

    def close(self, timeout: float = 30.0) -> None:
        self.predictions.close(timeout)
        self.feedback.close(timeout)
