"""The forecaster on the real NASA trace: beats its baselines, keeps its interval, never sees the future."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sentiment_mlops.autoscaling import forecaster as fc
from sentiment_mlops.autoscaling.trace import read_trace

SETTINGS = fc.ForecastSettings(season=1440, bucket=5, window=3 * 1440, min_history=2 * 1440, quantile=0.9)
HORIZON = 5


@pytest.fixture(scope="module")
def july(nasa_trace: Path) -> np.ndarray:
    """1-10 July, before any outage."""
    return read_trace(nasa_trace).values[: 10 * 1440]


@pytest.fixture(scope="module")
def walk(july: np.ndarray) -> fc.WalkForward:
    return fc.walk_forward(july, SETTINGS, HORIZON, refit_every=60)


def test_holt_winters_beats_seasonal_naive_and_last_value(july: np.ndarray, walk: fc.WalkForward) -> None:
    errors = fc.forecast_errors(july, walk, np.ones(len(july), dtype=bool))
    hw, naive, last = (errors[k]["smape"] for k in ("holt_winters", "seasonal_naive", "last_value"))
    assert hw < 0.95 * last, errors
    assert hw < 0.8 * naive, errors
    assert errors["_steps"]["n"] > 7 * 1440


def test_upper_quantile_covers_about_its_level(july: np.ndarray, walk: fc.WalkForward) -> None:
    ok = ~np.isnan(walk.upper)
    coverage = float(np.mean(july[ok] <= walk.upper[ok]))
    assert 0.85 <= coverage <= 0.95, coverage
    assert (walk.upper[ok] >= walk.point[ok]).all()


def test_walk_forward_never_sees_the_future(july: np.ndarray, walk: fc.WalkForward) -> None:
    """Changing everything after an origin leaves the forecast made at that origin unchanged."""
    origin = 8 * 1440 + 37
    target = origin + HORIZON - 1
    tampered = july.copy()
    tampered[origin:] *= 3.0
    again = fc.walk_forward(tampered[: origin + HORIZON + 120], SETTINGS, HORIZON, refit_every=60)
    assert again.upper[target] == pytest.approx(walk.upper[target])
    assert again.point[target] == pytest.approx(walk.point[target])


def test_scaler_path_equals_walk_forward(july: np.ndarray, walk: fc.WalkForward) -> None:
    """predict() on a history (what the scaler does) gives the walk-forward's number."""
    fit_at = SETTINGS.min_history + 100 * 60  # a refit point of the walk-forward
    model = fc.fit(july[:fit_at], SETTINGS, HORIZON)
    for origin in (fit_at, fit_at + 17, fit_at + 59):
        got = fc.predict(model, july[:origin], SETTINGS)
        assert got.upper == pytest.approx(walk.upper[origin + HORIZON - 1])
        assert got.point == pytest.approx(walk.point[origin + HORIZON - 1])


def test_short_history_is_refused(july: np.ndarray) -> None:
    with pytest.raises(fc.ShortHistoryError, match="need"):
        fc.fit(july[:1440], SETTINGS, HORIZON)


def test_level_correction_follows_a_surge(july: np.ndarray) -> None:
    """A sudden doubling of traffic shows in the forecast within the level window, before any refit."""
    fit_at = 9 * 1440
    model = fc.fit(july[:fit_at], SETTINGS, HORIZON)
    calm = fc.predict(model, july[: fit_at + 30], SETTINGS)
    surged = july[: fit_at + 30].copy()
    surged[-SETTINGS.level_window :] *= 2
    busy = fc.predict(model, surged, SETTINGS)
    gain = (
        surged[-SETTINGS.level_window :].mean()
        - july[fit_at + 30 - SETTINGS.level_window : fit_at + 30].mean()
    )
    assert busy.point - calm.point == pytest.approx(gain)


def test_error_measures() -> None:
    assert fc.smape(np.array([0.0, 10.0]), np.array([0.0, 10.0])) == 0.0
    assert fc.smape(np.array([10.0]), np.array([30.0])) == pytest.approx(100.0)
    assert fc.mape(np.array([0.0, 10.0]), np.array([5.0, 15.0])) == pytest.approx(50.0)
