"""What-if runs on top of the simulator: reactive targets at a fixed demand, and a scaler outage.

* **Sweep.** The demand does not depend on any target (:func:`.simulator.scale_demand`), so
  running the reactive policy at several target utilisations traces its cost/headroom curve:
  replica-hours against under-provisioned minutes. The predictive policy is compared with that
  curve at its own replica-hours (linear interpolation between the two nearest targets), so the
  comparison is at equal cost rather than at one arbitrary target.
* **Scaler outage.** The predictive scaler is down for ``scaler_outage_minutes`` starting at the
  busiest hour of the trace; KEDA's fallback answers for its trigger after
  ``fallback_failure_threshold`` failed polls, with ``static`` (KEDA's default) and with
  ``currentReplicasIfHigher`` (the deployed choice).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sentiment_mlops.autoscaling.config import AutoscalingParams
from sentiment_mlops.autoscaling.simulator import predictive_metric, reactive_metric, run_hpa, score


def sweep_reactive(demand: np.ndarray, cfg: AutoscalingParams) -> list[dict[str, Any]]:
    """The reactive policy at each of ``sweep_target_utilisations``, on the same demand."""
    rows = []
    metric = reactive_metric(demand)
    for utilisation in cfg.sweep_target_utilisations:
        target = cfg.pod_capacity_rps * utilisation
        replicas, ready, _ = run_hpa([metric], cfg, [target])
        summary = score(f"reactive@{utilisation:g}", demand, replicas, ready, cfg).summary
        rows.append({"target_utilisation": utilisation, **summary})
    return rows


def at_equal_cost(sweep: list[dict[str, Any]], replica_hours: float, key: str) -> float | None:
    """The reactive curve's ``key`` at ``replica_hours`` (None outside the swept range)."""
    points = sorted((row["replica_hours"], row[key]) for row in sweep)
    xs = [x for x, _ in points]
    if not xs[0] <= replica_hours <= xs[-1]:
        return None
    return float(np.interp(replica_hours, xs, [y for _, y in points]))


def equal_cost_comparison(sweep: list[dict[str, Any]], predictive: dict[str, Any]) -> dict[str, Any]:
    """Predictive against the reactive curve at the predictive policy's replica-hours."""
    hours = predictive["replica_hours"]
    under = at_equal_cost(sweep, hours, "underprovisioned_minutes")
    over = at_equal_cost(sweep, hours, "requests_over_capacity")
    return {
        "replica_hours": hours,
        "reactive_underprovisioned_minutes": under,
        "predictive_underprovisioned_minutes": predictive["underprovisioned_minutes"],
        "underprovisioned_minutes_reduction": None
        if not under
        else 1 - predictive["underprovisioned_minutes"] / under,
        "reactive_requests_over_capacity": over,
        "predictive_requests_over_capacity": predictive["requests_over_capacity"],
    }


def busiest_window(demand: np.ndarray, minutes: int) -> int:
    """Start minute of the ``minutes``-long window with the most demand."""
    sums = np.convolve(demand, np.ones(minutes), mode="valid")
    return int(sums.argmax())


def simulate_outage(demand: np.ndarray, forecast: np.ndarray, cfg: AutoscalingParams) -> dict[str, Any]:
    """The predictive policy with the scaler down in the busiest window, per fallback behaviour."""
    minutes = cfg.scaler_outage_minutes
    start = busiest_window(demand, minutes)
    down = np.zeros(len(demand), bool)
    down[start : start + minutes] = True
    per_minute = 60 // cfg.sync_period_s
    ticks = slice(start * per_minute, (start + minutes) * per_minute)
    metrics = [reactive_metric(demand), predictive_metric(forecast, demand, cfg.horizon_minutes)]
    goals = [cfg.target_rps_per_pod, cfg.predictive_target_rps_per_pod]
    result: dict[str, Any] = {"start_minute": start, "minutes": minutes, "behaviors": {}}
    for behavior, failing in (("none", None), ("static", down), ("currentReplicasIfHigher", down)):
        run_cfg = cfg.model_copy(update={"fallback_behavior": behavior if failing is not None else "static"})
        replicas, ready, _ = run_hpa(metrics, run_cfg, goals, [None, failing])
        window = score(behavior, demand[start : start + minutes], replicas[ticks], ready[ticks], cfg).summary
        window["min_replicas"] = int(replicas[ticks].min())
        result["behaviors"][behavior] = window
    return result


def render_tables(result: dict[str, Any]) -> list[str]:
    """Markdown lines: the sweep at equal cost, and the scaler outage."""
    lines = ["", "Reactive swept over its target at the same demand, beside predictive:", ""]
    lines += [
        "| policy | target utilisation | replica-hours | under-provisioned min | requests over capacity |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in result["sweep"]:
        lines.append(
            f"| reactive | {row['target_utilisation']:.2f} | {row['replica_hours']:.1f} "
            f"| {row['underprovisioned_minutes']} | {row['requests_over_capacity']:.0f} |"
        )
    p = result["policies"]["predictive"]
    util = result["params"]["target_utilisation"]
    pred_util = result["params"]["predictive_target_utilisation"]
    lines.append(
        f"| predictive | {util:.2f} + {pred_util:.2f} | {p['replica_hours']:.1f} "
        f"| {p['underprovisioned_minutes']} | {p['requests_over_capacity']:.0f} |"
    )
    eq = result["equal_cost"]
    if eq["reactive_underprovisioned_minutes"] is not None:
        lines += [
            "",
            f"At predictive's {eq['replica_hours']:.1f} replica-hours the reactive curve has "
            f"{eq['reactive_underprovisioned_minutes']:.0f} under-provisioned minutes; predictive has "
            f"{eq['predictive_underprovisioned_minutes']} "
            f"({eq['underprovisioned_minutes_reduction']:.0%} fewer).",
        ]
    outage = result["scaler_outage"]
    lines += [
        "",
        f"Scaler outage: {outage['minutes']} min from {outage['start']} (the busiest hour), "
        "predictive policy:",
        "",
        "| fallback behavior | under-provisioned min | requests over capacity | fewest replicas |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in outage["behaviors"].items():
        label = "(no outage)" if name == "none" else name
        lines.append(
            f"| {label} | {row['underprovisioned_minutes']} | {row['requests_over_capacity']:.0f} "
            f"| {row['min_replicas']} |"
        )
    return lines
