"""Read a per-minute request trace (``minute,count`` CSV) into a gap-free series."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class TraceError(ValueError):
    """The trace file is missing or malformed."""


# Documented gaps of the NASA-HTTP July/August 1995 logs (local time, end exclusive): no data
# was logged from 28 July 13:32, then the server was shut down for Hurricane Erin on 1-3 August.
# The bounds are the long runs of empty minutes inside those documented windows (the log has
# traffic on 1 August until 14:52). Demand there is unknown, not zero.
NASA_OUTAGES: tuple[tuple[str, str], ...] = (
    ("1995-07-28 13:33", "1995-08-01 00:00"),
    ("1995-08-01 14:53", "1995-08-03 04:36"),
)


@dataclass(frozen=True)
class Trace:
    """Requests per minute on a complete minute grid, and which minutes are outages."""

    counts: pd.Series  # float, DatetimeIndex with freq "min"
    outage: np.ndarray  # bool, same length

    @property
    def values(self) -> np.ndarray:
        return self.counts.to_numpy(dtype=float)


def read_trace(path: Path, outages: tuple[tuple[str, str], ...] | None = None) -> Trace:
    """Read ``minute,count``; fill absent minutes with zeros; mark outages.

    ``outages`` defaults to the NASA ones when the trace overlaps them (pass ``()`` for none).
    """
    if not path.is_file():
        raise TraceError(f"trace not found: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise TraceError(f"{path} is not a readable CSV: {exc}") from exc
    missing = {"minute", "count"} - set(frame.columns)
    if missing:
        raise TraceError(f"{path} lacks column(s) {sorted(missing)}; expected 'minute,count'")
    if frame.empty:
        raise TraceError(f"{path} has no rows")
    minutes = pd.to_datetime(frame["minute"], errors="coerce")
    if minutes.isna().any():
        row = int(minutes.isna().to_numpy().argmax()) + 2
        raise TraceError(f"{path} line {row}: 'minute' is not a timestamp")
    counts = pd.to_numeric(frame["count"], errors="coerce")
    if counts.isna().any() or (counts < 0).any():
        row = int((counts.isna() | (counts < 0)).to_numpy().argmax()) + 2
        raise TraceError(f"{path} line {row}: 'count' must be a non-negative number")
    series = pd.Series(counts.to_numpy(dtype=float), index=minutes.dt.floor("min"))
    if series.index.has_duplicates:
        raise TraceError(f"{path} has duplicate minutes, e.g. {series.index[series.index.duplicated()][0]}")
    series = series.sort_index()
    grid = pd.date_range(series.index[0], series.index[-1], freq="min")
    series = series.reindex(grid, fill_value=0.0)
    outage = np.zeros(len(series), dtype=bool)
    for start, end in NASA_OUTAGES if outages is None else outages:
        outage |= (grid >= pd.Timestamp(start)) & (grid < pd.Timestamp(end))
    return Trace(counts=series, outage=outage)
