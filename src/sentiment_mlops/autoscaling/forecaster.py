"""Request-rate forecaster: Holt-Winters on bucketed history, a recent-level correction, an upper quantile.

The model (statsmodels' ``ExponentialSmoothing``, additive daily seasonality) is fitted on
``bucket``-step means, which keeps a fit with daily seasonality at a few hundredths of a
second. Between refits the forecast is corrected by the gap between the last
``level_window`` observations and what the model expected for them, so a refit every hour
still tracks the current level. The upper bound adds the ``quantile`` of the relative errors
the same procedure made on the fitting window at the same horizon.

Units are "steps" (one Prometheus ``step`` or one trace minute); callers convert.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

EPS = 1e-9


class ShortHistoryError(ValueError):
    """Too little history to fit a seasonal model."""


@dataclass(frozen=True)
class ForecastSettings:
    """Forecaster knobs, in steps."""

    season: int = 1440
    bucket: int = 5
    window: int = 7 * 1440
    min_history: int = 2 * 1440
    level_window: int = 15
    quantile: float = 0.9
    ahead: int = 120  # how far past the fit the expected path is kept (refit period + horizon)

    def __post_init__(self) -> None:
        if self.season % self.bucket:
            raise ValueError("season must be a multiple of bucket")
        if self.min_history < 2 * self.season + self.bucket:
            # Holt-Winters' heuristic initialisation needs two full seasons.
            object.__setattr__(self, "min_history", 2 * self.season + self.bucket)


@dataclass(frozen=True)
class FittedModel:
    """The model's expected value for absolute steps ``start .. start + len(expected)``."""

    start: int
    fit_end: int  # history length seen at fit time
    expected: np.ndarray
    horizon: int
    z_upper: float  # relative error quantile at ``horizon``
    floor: float  # scale below which relative errors are measured against a floor
    smoothing: dict[str, float]

    def expected_at(self, index: np.ndarray | int) -> np.ndarray:
        idx = np.asarray(index) - self.start
        if np.any(idx < 0) or np.any(idx >= len(self.expected)):
            raise IndexError("step outside the fitted model's range; refit")
        return np.asarray(self.expected[idx], dtype=float)


def _level_gap(y: np.ndarray, expected: np.ndarray, level_window: int) -> np.ndarray:
    """For each origin t (observations y[:t] known), mean(y[t-L:t]) - mean(expected[t-L:t])."""
    cy = np.concatenate(([0.0], np.cumsum(y)))
    ce = np.concatenate(([0.0], np.cumsum(expected)))
    t = np.arange(level_window, len(y) + 1)
    return ((cy[t] - cy[t - level_window]) - (ce[t] - ce[t - level_window])) / level_window


def fit(history: np.ndarray, settings: ForecastSettings, horizon: int) -> FittedModel:
    """Fit Holt-Winters on the last ``window`` steps of ``history`` (oldest first)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y_all = np.nan_to_num(np.asarray(history, dtype=float), nan=0.0)
    n = len(y_all)
    if n < settings.min_history:
        raise ShortHistoryError(f"{n} steps of history, need {settings.min_history}")
    width = min(n, settings.window)
    width -= width % settings.bucket
    start = n - width
    y = y_all[start:]
    buckets = y.reshape(-1, settings.bucket).mean(axis=1)
    period = settings.season // settings.bucket
    ahead_buckets = math.ceil((settings.ahead + horizon) / settings.bucket) + 1
    with warnings.catch_warnings():
        # statsmodels warns about convergence on flat stretches; the fit is still usable.
        warnings.simplefilter("ignore")
        result = ExponentialSmoothing(
            buckets, seasonal="add", seasonal_periods=period, initialization_method="heuristic"
        ).fit()
        path = np.concatenate([result.fittedvalues, result.forecast(ahead_buckets)])
    expected = np.maximum(np.repeat(path, settings.bucket), 0.0)
    floor = max(0.1 * float(y.mean()), EPS)

    # Relative errors of the full procedure (expected + level gap) at this horizon, on the
    # last season of the window: the prediction interval the scaler provisions for.
    gap = _level_gap(y, expected[:width], settings.level_window)  # origin t -> gap[t - L]
    targets = np.arange(max(width - settings.season, settings.level_window + horizon - 1), width)
    origins = targets - horizon + 1
    pred = np.maximum(expected[targets] + gap[origins - settings.level_window], 0.0)
    rel = (y[targets] - pred) / np.maximum(pred, floor)
    z_upper = float(np.quantile(rel, settings.quantile)) if len(rel) else 0.0
    return FittedModel(
        start=start,
        fit_end=n,
        expected=expected,
        horizon=horizon,
        z_upper=max(z_upper, 0.0),
        floor=floor,
        smoothing={k: float(v) for k, v in result.params.items() if k.startswith("smoothing")},
    )


@dataclass(frozen=True)
class Forecast:
    point: float
    upper: float


def predict(model: FittedModel, history: np.ndarray, settings: ForecastSettings) -> Forecast:
    """Forecast ``model.horizon`` steps after the last observation of ``history``.

    ``history`` holds at least the last ``level_window`` observations, and its last element is
    absolute step ``len(history) - 1`` in the same numbering the model was fitted with.
    """
    t = len(history)
    return predict_from(model, t, np.asarray(history[t - settings.level_window : t], dtype=float))


def predict_from(model: FittedModel, t: int, recent: np.ndarray) -> Forecast:
    """Forecast from the observations ``recent`` of absolute steps ``t - len(recent) .. t - 1``."""
    settings_window = len(recent)
    expected_recent = model.expected_at(np.arange(t - settings_window, t))
    gap = float(np.nan_to_num(recent).mean() - expected_recent.mean())
    point = max(float(model.expected_at(t - 1 + model.horizon)) + gap, 0.0)
    upper = point + model.z_upper * max(point, model.floor)
    return Forecast(point=point, upper=upper)


@dataclass(frozen=True)
class WalkForward:
    """Forecasts indexed by target step (NaN where no forecast was made)."""

    point: np.ndarray
    upper: np.ndarray
    last_value: np.ndarray
    seasonal_naive: np.ndarray
    fits: int


def walk_forward(
    y: np.ndarray, settings: ForecastSettings, horizon: int, refit_every: int, progress: bool = False
) -> WalkForward:
    """Replay ``y``: refit every ``refit_every`` steps on the past only, forecast each step ``horizon`` ahead.

    A forecast for step ``j`` is made at origin ``t = j - horizon + 1``, when ``y[:t]`` is known.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    point = np.full(n, np.nan)
    upper = np.full(n, np.nan)
    refits = range(settings.min_history, n, refit_every)
    fits = 0
    gap_all = np.full(n + 1, np.nan)
    iterator = refits
    if progress:
        from tqdm import tqdm

        iterator = tqdm(refits, desc="walk-forward fits", unit="fit", mininterval=2.0)
    for fit_at in iterator:
        model = fit(y[:fit_at], settings, horizon)
        fits += 1
        t_hi = min(fit_at + refit_every, n - horizon + 1)
        if t_hi <= fit_at:
            break
        lo = fit_at - settings.level_window
        seg = y[lo:t_hi]
        exp_seg = model.expected_at(np.arange(lo, t_hi))
        gap = _level_gap(seg, exp_seg, settings.level_window)  # origins fit_at .. t_hi
        origins = np.arange(fit_at, t_hi)
        gap_all[origins] = gap[: len(origins)]
        targets = origins + horizon - 1
        p = np.maximum(model.expected_at(targets) + gap[: len(origins)], 0.0)
        point[targets] = p
        upper[targets] = p + model.z_upper * np.maximum(p, model.floor)
    last_value = np.full(n, np.nan)
    last_value[horizon - 1 + 1 :] = y[: n - horizon]
    seasonal_naive = np.full(n, np.nan)
    lag = settings.season * math.ceil(horizon / settings.season)
    seasonal_naive[lag:] = y[: n - lag]
    return WalkForward(point, upper, last_value, seasonal_naive, fits)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent; a step where both are zero counts as a perfect forecast."""
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    denom = np.abs(a) + np.abs(f)
    terms = np.where(denom > 0, 2 * np.abs(a - f) / np.where(denom > 0, denom, 1), 0.0)
    return float(100 * terms.mean())


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """MAPE in percent over the steps with non-zero actuals."""
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    keep = a != 0
    return float(100 * np.mean(np.abs(a[keep] - f[keep]) / np.abs(a[keep])))


def forecast_errors(y: np.ndarray, wf: WalkForward, mask: np.ndarray) -> dict[str, dict[str, float]]:
    """sMAPE/MAPE of each forecast on the steps in ``mask`` where every forecast exists."""
    ok = mask & ~np.isnan(wf.point) & ~np.isnan(wf.last_value) & ~np.isnan(wf.seasonal_naive)
    a = y[ok]
    out = {}
    for name, f in (
        ("holt_winters", wf.point),
        ("seasonal_naive", wf.seasonal_naive),
        ("last_value", wf.last_value),
    ):
        out[name] = {"smape": smape(a, f[ok]), "mape": mape(a, f[ok])}
    out["holt_winters_upper"] = {
        "coverage": float(np.mean(a <= wf.upper[ok])),
        "smape": smape(a, wf.upper[ok]),
    }
    out["_steps"] = {"n": int(ok.sum())}
    return out
