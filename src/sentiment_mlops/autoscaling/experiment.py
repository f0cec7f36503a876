"""``sentiment autoscale simulate``'s experiment: a trace's demand, walk-forward forecasts, every
policy through the HPA model of :mod:`.simulator`, the scenarios of :mod:`.scenarios`, summed up
(full trace and held-out days) for :mod:`.report`.
"""

from __future__ import annotations

from typing import Any

from sentiment_mlops.autoscaling import scenarios
from sentiment_mlops.autoscaling.config import AutoscalingParams
from sentiment_mlops.autoscaling.forecaster import ForecastSettings, forecast_errors, walk_forward
from sentiment_mlops.autoscaling.simulator import scale_demand, score, simulate_policies
from sentiment_mlops.autoscaling.trace import Trace


def forecast_settings(cfg: AutoscalingParams) -> ForecastSettings:
    """The forecaster's settings in minutes (one trace step = one minute)."""
    return ForecastSettings(
        season=cfg.season_minutes,
        bucket=cfg.bucket_minutes,
        window=cfg.fit_window_minutes,
        min_history=cfg.min_history_minutes,
        level_window=cfg.level_window_minutes,
        quantile=cfg.quantile,
        ahead=cfg.refit_minutes,
    )


def run_simulation(trace: Trace, cfg: AutoscalingParams, progress: bool = True) -> dict[str, Any]:
    """Walk-forward forecasts, every policy, and the summary (full trace and held-out days)."""
    demand, factor = scale_demand(trace.values, cfg)
    settings = forecast_settings(cfg)
    wf = walk_forward(demand, settings, cfg.horizon_minutes, cfg.refit_minutes, progress=progress)
    runs = simulate_policies(demand, wf.upper, cfg)
    heldout_from = int(cfg.tuning_days * 1440)
    per_minute = 60 // cfg.sync_period_s
    policies: dict[str, Any] = {}
    for name, run in runs.items():
        entry: dict[str, Any] = dict(run.summary)
        if 0 < heldout_from < len(demand):
            sl = slice(heldout_from * per_minute, None)
            entry["heldout"] = score(
                name, demand[heldout_from:], run.replicas[sl], run.ready[sl], cfg
            ).summary
        policies[name] = entry
    scored = ~trace.outage
    forecast = forecast_errors(demand, wf, scored)
    heldout_mask = scored.copy()
    heldout_mask[:heldout_from] = False
    reactive, predictive = policies["reactive"], policies["predictive"]
    index = trace.counts.index
    sweep = scenarios.sweep_reactive(demand, cfg)
    outage = scenarios.simulate_outage(demand, wf.upper, cfg)
    outage["start"] = str(index[outage["start_minute"]])
    return {
        "trace": {
            "start": str(index[0]),
            "end": str(index[-1]),
            "minutes": len(demand),
            "outage_minutes": int(trace.outage.sum()),
            "requests": float(trace.values.sum()),
            "work_scale_factor": factor,
            "peak_demand_sre_per_s": float(demand.max()),
            "heldout_from": str(index[min(heldout_from, len(index) - 1)]),
        },
        "params": cfg.model_dump(),
        "policies": policies,
        "comparison": {
            "underprovisioned_minutes_reduction": _reduction(
                reactive["underprovisioned_minutes"], predictive["underprovisioned_minutes"]
            ),
            "replica_hours_increase": predictive["replica_hours"] / reactive["replica_hours"] - 1,
            **(
                _compare(reactive["heldout"], predictive["heldout"], "_heldout")
                if "heldout" in reactive
                else {}
            ),
        },
        "sweep": sweep,
        "equal_cost": scenarios.equal_cost_comparison(sweep, predictive),
        "scaler_outage": outage,
        "forecast": {
            "horizon_minutes": cfg.horizon_minutes,
            "fits": wf.fits,
            "errors": forecast,
            "errors_heldout": forecast_errors(demand, wf, heldout_mask),
        },
        "_series": {"demand": demand, "runs": runs, "outage": trace.outage, "index": index},
    }


def _compare(reactive: dict[str, Any], predictive: dict[str, Any], suffix: str) -> dict[str, Any]:
    return {
        f"underprovisioned_minutes_reduction{suffix}": _reduction(
            reactive["underprovisioned_minutes"], predictive["underprovisioned_minutes"]
        ),
        f"replica_hours_increase{suffix}": predictive["replica_hours"] / reactive["replica_hours"] - 1,
    }


def _reduction(before: float, after: float) -> float | None:
    return None if before == 0 else 1 - after / before
