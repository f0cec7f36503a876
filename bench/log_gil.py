"""How long the prediction log's writer holds the GIL per segment: the list builder it had before
issue #14 against the Arrow builder, side by side on the same entries (for bench_prediction_log.py).

Per 5,000-row segment of single-review entries, for each builder:

- ``cpu_ms``: the building thread's CPU time. Building is Python code or Arrow conversions of
  Python objects, which run holding the GIL, so this is the GIL time the writer takes from the
  request threads per segment;
- ``longest_wait_ms``: the longest a probe thread (a request thread's stand-in, sleeping 0.1 ms in
  a loop) waited to run again while the segment was built: the stall a request can meet. Python
  hands the GIL over every 5 ms (``sys.getswitchinterval``) or when a thread sleeps or does I/O.

Variants: ``lists`` (before: per-row lists, ``pa.Table.from_pydict``, texts hashed in the writer),
``arrow_hash_in_writer`` (the Arrow builder with the hashing still in the writer, one piece),
``arrow_one_piece`` (texts hashed on the request thread, the segment built in one piece) and
``arrow`` (as the service runs: that, built in slices with a pause between them, which costs some
CPU per slice and bounds the longest wait).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from sentiment_mlops.data.log_format import text_hash
from sentiment_mlops.serving import log_reference, log_tables
from sentiment_mlops.serving.prediction_log import LogSettings, PredictionLog

META = ("sentiment", "v", "/v1/predict", "champion")
PROBE_SLEEP_S = 0.0001


class Probe(threading.Thread):
    """Sleeps briefly in a loop; records the longest gap between two wake-ups."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.done = threading.Event()
        self.worst = 0.0

    def run(self) -> None:
        last = time.perf_counter()
        while not self.done.is_set():
            time.sleep(PROBE_SLEEP_S)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last)
            last = now


def _timed(build: Callable[..., Any], *args: Any) -> tuple[float, float]:
    """(CPU ms of the calling thread, longest probe wait ms) of one ``build(*args)``."""
    probe = Probe()
    probe.start()
    time.sleep(0.01)  # the probe runs before the build starts
    cpu0 = time.thread_time()
    build(*args)
    cpu = time.thread_time() - cpu0
    probe.done.set()
    probe.join()
    return 1e3 * cpu, 1e3 * probe.worst


def _segment(texts: list[str], rows: int, seg: int) -> list[dict[str, Any]]:
    ts = time.time()
    return [
        {"ids": [f"s{seg}r{i}.0.p.v"], "texts": [texts[i % len(texts)]], "ts": ts + i * 1e-4}
        for i in range(rows)
    ]


def _old(batches: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(b["ids"], b["texts"], [0.75], [230], [0.02], *META, b["ts"]) for b in batches]


def _new(mode: str, batches: list[dict[str, Any]], hashed: bool) -> list[tuple[Any, ...]]:
    """New-style entries; ``hashed=False`` leaves the hashes out (the writer computes them)."""
    return [
        (
            b["ids"],
            b["texts"] if mode == "full" else None,
            [text_hash(t) for t in b["texts"]] if hashed and mode != "none" else None,
            [0.75],
            [230],
            [0.02],
            *META,
            b["ts"],
        )
        for b in batches
    ]


def _hash_then_build(mode: str, entries: list[tuple[Any, ...]], texts: list[list[str]]) -> Any:
    """The Arrow builder, then the hash column built in the writer from the texts (one pass)."""
    import pyarrow as pa

    table = log_tables.prediction_table(entries)
    if mode == "none":
        return table
    hashes = pa.array([text_hash(t) for ts in texts for t in ts], type=pa.string())
    i = table.schema.get_field_index("text_sha256")
    return table.set_column(i, table.schema.field(i), hashes)


def gil_per_segment(mode: str, texts: list[str], rows: int, segments: int) -> dict[str, Any]:
    """Median figures over ``segments`` segments of ``rows`` single-review entries, the builders
    interleaved segment by segment (so they see the same swings of the machine's load)."""
    writer = PredictionLog(LogSettings("unused", text_mode=mode)).predictions
    runs: dict[str, list[tuple[float, float]]] = {
        name: [] for name in ("lists", "arrow_hash_in_writer", "arrow_one_piece", "arrow")
    }
    for seg in range(segments + 1):  # the first round warms up and is not counted
        batches = _segment(texts, rows, seg)
        old, unhashed, hashed = _old(batches), _new(mode, batches, False), _new(mode, batches, True)
        per_entry_texts = [b["texts"] for b in batches]
        results = {
            "lists": _timed(log_reference.prediction_table, old, mode),
            "arrow_hash_in_writer": _timed(_hash_then_build, mode, unhashed, per_entry_texts),
            "arrow_one_piece": _timed(log_tables.prediction_table, hashed),
            "arrow": _timed(writer._table, hashed),
        }
        if seg:
            for name, result in results.items():
                runs[name].append(result)
    figures: dict[str, Any] = {
        name: {
            "cpu_ms": round(statistics.median(r[0] for r in rs), 2),
            "longest_wait_ms": round(statistics.median(r[1] for r in rs), 2),
        }
        for name, rs in runs.items()
    }
    figures["ratio_cpu_lists_over_arrow"] = round(figures["lists"]["cpu_ms"] / figures["arrow"]["cpu_ms"], 2)
    return figures


def idle_probe_wait_ms(seconds: float = 0.5) -> float:
    """The probe's longest wait with nothing else running: its floor on this machine now."""
    probe = Probe()
    probe.start()
    time.sleep(seconds)
    probe.done.set()
    probe.join()
    return round(1e3 * probe.worst, 2)


def hash_us_per_row(texts: list[str], rows: int = 20_000) -> float:
    """What hashing costs the request thread per single-review request."""
    t0 = time.thread_time()
    for i in range(rows):
        text_hash(texts[i % len(texts)])
    return round(1e6 * (time.thread_time() - t0) / rows, 2)


IMPORT_SNIPPET = """
import time
import numpy  # a worker has it already (the model)
from sentiment_mlops.serving.prediction_log import prepare_writer
t0, c0 = time.perf_counter(), time.process_time()
prepare_writer()
print(1e3 * (time.perf_counter() - t0), 1e3 * (time.process_time() - c0))
"""


def writer_setup_ms(repeats: int = 3) -> dict[str, float]:
    """What a worker paid on its first segment when the master had not prepared the writer
    (:func:`prepare_writer` in fresh interpreters, median): wall and CPU ms."""
    import subprocess

    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_SNIPPET], capture_output=True, text=True, check=True
        )
        runs.append(tuple(map(float, out.stdout.split())))
    return {
        "wall_ms": round(statistics.median(r[0] for r in runs), 1),
        "cpu_ms": round(statistics.median(r[1] for r in runs), 1),
    }


def _old_style(mode: str, i: int, text: str) -> Any:
    """The request path's entry before #14: lists, in an (entry, rows) pair."""
    return (([f"r{i}.0.p.v"], [text], [0.75], [230], [0.02], *META, time.time()), 1)


def _new_style(mode: str, i: int, text: str) -> Any:
    meta = (*META, time.time())
    entry = log_tables.prediction_entry(mode, [f"r{i}.0.p.v"], [text], [0.75], [230], [0.02], meta)  # type: ignore[arg-type]
    return entry


def _full_collections(
    make: Callable[..., Any], mode: str, texts: list[str], rows: int, segment: int
) -> list[float]:
    """The durations of the full collections while ``rows`` entries are queued and taken."""
    import gc

    gc.collect()
    pauses: list[float] = []
    started = 0.0

    def watch(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if info["generation"] == 2:
            if phase == "start":
                started = time.perf_counter()
            else:
                pauses.append(time.perf_counter() - started)

    gc.callbacks.append(watch)
    try:
        queue: list[Any] = []
        for i in range(rows):
            queue.append(make(mode, i, texts[i % len(texts)]))
            if len(queue) >= segment:
                queue = []  # the writer took the segment
    finally:
        gc.callbacks.remove(watch)
    return pauses


def full_collections(mode: str, texts: list[str], rows: int, segment_rows: int) -> dict[str, Any]:
    """Full (oldest-generation) garbage collections while ``rows`` single-review entries are
    queued and taken a segment at a time, the old entries (lists) against the new (tuples of
    atomics, which the collector stops tracking), in this process. A full collection walks every
    tracked object: a worker holding the preloaded app has more of them than this process."""
    import gc

    figures: dict[str, Any] = {"heap_tracked_objects": len(gc.get_objects())}
    for name, make in (("lists", _old_style), ("tuples", _new_style)):
        pauses = _full_collections(make, mode, texts, rows, segment_rows)
        figures[name] = {
            "full_collections": len(pauses),
            "full_collection_ms_total": round(1e3 * sum(pauses), 1),
        }
    return figures
