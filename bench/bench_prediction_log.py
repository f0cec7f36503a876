"""What the prediction log costs per row, in one process: the request side (the call a scoring route
makes, with the writer thread running beside it: CPU time of the calling thread, and wall time) and
everything (CPU of both threads, until the last segment is written), for each text mode; and how
long the writer holds the GIL per segment, the list builder it had before issue #14 against the
Arrow builder side by side (``log_gil.py``), the full garbage collections the queued entries set off
(the old lists against the new tuples), what hashing costs the request thread, and what a worker
paid on its first segment before the master prepared pyarrow for it.

Real test reviews of median length, one per call as single-review requests log them, into a
temporary folder. CPU times move much less with the machine's load than wall time; the HTTP-level
cost is `make bench-serve`'s (the log on and off, side by side).

    python bench/bench_prediction_log.py [--rows 50000] [--segments 7]
        [--out reports/bench/prediction_log.json]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from log_gil import full_collections, gil_per_segment, hash_us_per_row, idle_probe_wait_ms, writer_setup_ms
from sentiment_mlops.config import Paths
from sentiment_mlops.data.log_format import TEXT_MODES
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.serving.prediction_log import LogSettings, PredictionLog
from serve_inputs import median_reviews


def run(mode: str, texts: list[str], rows: int, folder: Path) -> dict[str, Any]:
    written: list[int] = []
    plog = PredictionLog(
        LogSettings(str(folder), text_mode=mode, bound=rows + 1),  # type: ignore[arg-type]
        on_written=lambda _table, n: written.append(n),
    )
    plog.log_predictions(["warm.0.p.v"], [texts[0]], [0.9], [10], [0.0], "sentiment", "v", "/v1/predict")
    cpu0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    for i in range(rows):
        text = texts[i % len(texts)]
        plog.log_predictions([f"r{i}.0.p.v"], [text], [0.75], [230], [0.02], "sentiment", "v", "/v1/predict")
    request_wall, request_cpu = time.perf_counter() - wall0, time.thread_time() - thread0
    plog.close()
    cpu = time.process_time() - cpu0
    if sum(written) != rows + 1:
        sys.exit(f"error: {sum(written)} rows written of {rows + 1}")
    return {
        # CPU of the calling thread: what a request pays, whatever else the machine runs
        "request_side_cpu_us_per_row": round(1e6 * request_cpu / rows, 2),
        "request_side_wall_us_per_row": round(1e6 * request_wall / rows, 2),
        "total_cpu_us_per_row": round(1e6 * cpu / rows, 2),
        "segments": len(written),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000, help="single-review calls per text mode")
    parser.add_argument("--segments", type=int, default=7, help="segments timed per builder and mode")
    parser.add_argument("--out", type=Path, default=None, help="default: reports/bench/prediction_log.json")
    args = parser.parse_args()
    if args.rows < 1 or args.segments < 1:
        parser.error("--rows and --segments must be at least 1")
    paths = Paths()
    texts = median_reviews(paths, 8)
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-plog-") as tmp:
        modes = {mode: run(mode, texts, args.rows, Path(tmp) / mode) for mode in TEXT_MODES}
    segment_rows = LogSettings("x").segment_rows
    gil = {mode: gil_per_segment(mode, texts, segment_rows, args.segments) for mode in TEXT_MODES}
    report = {
        "rows": args.rows,
        "review_chars_mean": round(sum(map(len, texts)) / len(texts)),
        "modes": modes,
        "segment_rows": segment_rows,
        "gil_per_segment": gil,
        "probe_idle_longest_wait_ms": idle_probe_wait_ms(),
        "full_collections": full_collections("full", texts, args.rows, segment_rows),
        "request_side_hash_us_per_row": hash_us_per_row(texts),
        # the imports and pyarrow's first conversion (which imports pandas), once per worker before
        "writer_setup_before_preload": writer_setup_ms(),
        "loadavg_start": load_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "command": shlex.join(["python", "bench/bench_prediction_log.py", *sys.argv[1:]]),
    }
    out = args.out or paths.reports / "bench" / "prediction_log.json"
    atomic_write_json(out, report)
    for mode, r in modes.items():
        print(
            f"text={mode:5} request side {r['request_side_cpu_us_per_row']:6.2f} µs/row CPU "
            f"({r['request_side_wall_us_per_row']:.2f} wall), "
            f"total CPU {r['total_cpu_us_per_row']:6.2f} µs/row ({r['segments']} segments)"
        )
    for mode, g in gil.items():
        cells = ", ".join(
            f"{name} {g[name]['cpu_ms']:.2f} ms (longest wait {g[name]['longest_wait_ms']:.2f})"
            for name in ("lists", "arrow_hash_in_writer", "arrow_one_piece", "arrow")
        )
        print(
            f"GIL per {segment_rows}-row segment, text={mode:5}: {cells}; "
            f"lists/arrow {g['ratio_cpu_lists_over_arrow']}x"
        )
    gcs = report["full_collections"]
    print(
        f"full GCs while {args.rows:,} rows were queued (heap {gcs['heap_tracked_objects']:,} objects): "
        f"lists {gcs['lists']['full_collections']} ({gcs['lists']['full_collection_ms_total']} ms), "
        f"tuples {gcs['tuples']['full_collections']} ({gcs['tuples']['full_collection_ms_total']} ms)"
    )
    print(
        f"probe alone: longest wait {report['probe_idle_longest_wait_ms']} ms; hashing on the request "
        f"thread {report['request_side_hash_us_per_row']} µs/row; the writer's setup in a fresh "
        f"process {report['writer_setup_before_preload']}"
    )
    print(f"load average {load_start} -> {report['loadavg_end']}; wrote {out}")


if __name__ == "__main__":
    main()
