"""The history the predictive scaler's integration test gives Prometheus: three days of the NASA
trace as an OpenMetrics counter for promtool to backfill, and the forecast the scaler should
answer, computed from the same minutes with the forecaster itself."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from sentiment_mlops.autoscaling import forecaster as fc
from sentiment_mlops.autoscaling.trace import read_trace

HISTORY_DAYS = 3
FUTURE_MINUTES = 30  # samples past "now", so the last step's rate exists whenever the test runs
SCALE = 5.0  # requests per trace request, to make rates of a few hundred per second


def trace_history(nasa_trace: Path) -> dict:
    """Three days of the trace (+30 min), shifted so its minutes end 30 minutes from now."""
    counts = read_trace(nasa_trace).values[5 * 1440 :]  # from 6 July: no outage in this slice
    minutes = HISTORY_DAYS * 1440 + FUTURE_MINUTES
    counts = counts[:minutes] * SCALE
    now_min = math.floor(time.time() / 60) * 60
    first = now_min - (HISTORY_DAYS * 1440 - 1) * 60  # minute index 0 ends at `first`
    return {"counts": counts, "first": first}


def openmetrics(counts: np.ndarray, first: float) -> str:
    """A counter scraped every 15 s that grows by each minute's count within that minute."""
    lines = ["# TYPE app_request_count counter"]
    series = (
        'app_request_count_total{job="sentiment-api",endpoint="/v1/predict",method="POST",'
        'http_status="200",instance="api-0"}'
    )
    total = 0.0
    for i, count in enumerate(counts):
        minute_end = first + i * 60
        for quarter in range(1, 5):
            ts = minute_end - 60 + quarter * 15
            lines.append(f"{series} {total + count * quarter / 4:.2f} {ts:.0f}")
        total += count
    # A series with one hour of history only, for the short-history fallback.
    lines.append("# TYPE short_lived gauge")
    for i in range(60):
        lines.append(f"short_lived 123.0 {first + (HISTORY_DAYS * 1440 - 60 + i) * 60:.0f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def expected_forecast(history: dict, fit_end: float, end: float) -> tuple[float, float]:
    """Forecast and observed rate computed from the CSV itself: fit on minutes up to ``fit_end``,
    forecast from the minutes up to ``end`` (the scaler's answer may straddle a minute boundary)."""
    rates = history["counts"] / 60
    fit_last = round((fit_end - history["first"]) / 60)  # index of the minute ending at fit_end
    last = round((end - history["first"]) / 60)
    start = max(fit_last + 1 - HISTORY_DAYS * 1440, 0)
    settings = fc.ForecastSettings(
        season=1440,
        bucket=5,
        window=HISTORY_DAYS * 1440,
        min_history=2 * 1440,
        level_window=15,
        quantile=0.9,
        ahead=120,
    )
    model = fc.fit(rates[start : fit_last + 1], settings, horizon=5)
    return fc.predict(model, rates[start : last + 1], settings).upper, float(rates[last])
