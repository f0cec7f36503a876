"""Replay a per-minute demand trace through a model of a Deployment scaled by KEDA and the HPA.

Modelled (Kubernetes HPA v2 defaults, KEDA external metrics):

* every ``sync_period_s`` the HPA reads each trigger's metric; for ``AverageValue``
  ``desired = ceil(metric / target)``, unless ``|metric / (target * current) - 1| <= tolerance``;
  several triggers: the largest desired wins;
* scale-up: at most ``max(2 * current, current + 4)`` per sync (100 % or 4 pods per 15 s);
* scale-down: the largest recommendation of the last ``scale_down_stabilisation_s`` seconds,
  and at most ``scale_down_percent`` % of the pods per ``scale_down_period_s`` (100 % per 15 s is
  the HPA default; the deployed ScaledObject uses 25 % per 60 s);
* a new pod serves after ``startup_delay_s``; a removed pod stops at once (pending ones first);
* replicas stay within ``[min_replicas, max_replicas]``;
* a failing trigger (``failing``): for its first ``fallback_failure_threshold`` polls KEDA gives
  the HPA no metric for it, and the HPA then only scales up on the others, never down; after
  that KEDA's fallback answers for it: ``currentReplicasIfHigher`` asks for
  ``max(current, fallback_replicas)``, ``static`` sets the Deployment to exactly
  ``fallback_replicas`` whatever the other triggers ask for (kedacore/keda issue 6659).

Demand and capacity are scoring work in single-review equivalents per second (SRE/s, see
:mod:`.config`); the trace's requests are converted with ``work_per_request``.

A trigger's metric for minute ``m`` is what KEDA can read during that minute: the reactive
trigger sees the rate of minute ``m - 1`` (``rate(...[1m])``), the predictive one the
forecast made from minutes ``< m`` for minute ``m - 1 + horizon``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from sentiment_mlops.autoscaling.config import AutoscalingParams


@dataclass(frozen=True)
class PolicyRun:
    """Per-tick replicas (spec) and ready pods, and the per-policy figures."""

    name: str
    replicas: np.ndarray
    ready: np.ndarray
    summary: dict[str, float]


def _desired(value: float, target: float, current: int, tolerance: float) -> int:
    if current > 0 and abs(value / (target * current) - 1.0) <= tolerance:
        return current
    return math.ceil(value / target - 1e-9)


def _trigger_desired(
    value: float, goal: float, current: int, failed_polls: int, cfg: AutoscalingParams
) -> tuple[int, bool]:
    """One trigger's replica count, and whether KEDA's static fallback pins the Deployment."""
    if failed_polls == 0:
        return _desired(value, goal, current, cfg.tolerance), False
    threshold = math.ceil(cfg.fallback_failure_threshold * cfg.polling_interval_s / cfg.sync_period_s)
    if failed_polls <= threshold:
        return current, False  # no metric yet: the HPA never scales down on a missing metric
    if cfg.fallback_behavior == "static":
        return cfg.fallback_replicas, True
    return max(current, cfg.fallback_replicas), False


def run_hpa(
    metrics: list[np.ndarray],
    cfg: AutoscalingParams,
    targets: list[float] | None = None,
    failing: list[np.ndarray | None] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Drive the HPA with per-minute trigger metrics (SRE/s) and their per-pod targets.

    ``failing`` holds, per trigger, a per-minute mask of the minutes its source is down (or None).
    Returns per-tick replicas, per-tick ready pods and the number of scaling events.
    """
    if 60 % cfg.sync_period_s:
        raise ValueError("sync_period_s must divide 60")
    per_minute = 60 // cfg.sync_period_s
    minutes = len(metrics[0])
    goals = targets or [cfg.target_rps_per_pod] * len(metrics)
    down = [
        np.zeros(minutes, bool) if m is None else np.asarray(m, bool)
        for m in failing or [None] * len(metrics)
    ]
    failed_polls = [0] * len(metrics)
    ticks = minutes * per_minute
    replicas = np.empty(ticks, dtype=np.int32)
    ready = np.empty(ticks, dtype=np.int32)
    stack = np.vstack([np.nan_to_num(np.asarray(m, float)) for m in metrics])
    first = max(_desired(float(v), g, 0, 0.0) for v, g in zip(stack[:, 0], goals, strict=True))
    current = min(max(first, cfg.min_replicas), cfg.max_replicas)
    pods: list[float] = [0.0] * current  # ready-at times, oldest first
    recs: deque[tuple[float, int]] = deque()
    removed: deque[tuple[float, int]] = deque()
    events = 0
    window = cfg.scale_down_stabilisation_s
    for k in range(ticks):
        now = float(k * cfg.sync_period_s)
        minute = k // per_minute
        column = stack[:, minute]
        failed_polls = [n + 1 if mask[minute] else 0 for n, mask in zip(failed_polls, down, strict=True)]
        answers = [
            _trigger_desired(float(v), g, current, n, cfg)
            for v, g, n in zip(column, goals, failed_polls, strict=True)
        ]
        desired = min(max(*(a for a, _ in answers), cfg.min_replicas), cfg.max_replicas)
        pinned = any(p for _, p in answers)
        recs.append((now, desired))
        while recs[0][0] <= now - window:
            recs.popleft()
        while removed and removed[0][0] <= now - cfg.scale_down_period_s:
            removed.popleft()
        if desired < current:
            desired = min(current, max(r for _, r in recs))
            # Percent policy: period-start replicas = current + pods removed within the period.
            start = current + sum(n for _, n in removed)
            # Truncated, as the HPA does (int32 of the product).
            desired = max(desired, math.floor(start * (1 - cfg.scale_down_percent / 100) + 1e-9))
        elif desired > current:
            desired = min(desired, max(2 * current, current + 4))
        if pinned:  # KEDA's static fallback sets the Deployment's scale itself
            desired = min(max(cfg.fallback_replicas, cfg.min_replicas), cfg.max_replicas)
        if desired > current:
            pods.extend([now + cfg.startup_delay_s] * (desired - current))
        elif desired < current:
            removed.append((now, current - desired))
            pods.sort()
            del pods[desired:]  # pending (latest ready-at) pods go first
        if desired != current:
            events += 1
            current = desired
        replicas[k] = current
        ready[k] = sum(1 for t in pods if t <= now)
    return replicas, ready, events


def score(
    name: str,
    demand_rps: np.ndarray,
    replicas: np.ndarray,
    ready: np.ndarray,
    cfg: AutoscalingParams,
) -> PolicyRun:
    """Under-provisioned minutes, requests over capacity, replica-hours, scaling events."""
    per_minute = 60 // cfg.sync_period_s
    dt = cfg.sync_period_s
    cap = ready.astype(float) * cfg.pod_capacity_rps
    demand_tick = np.repeat(demand_rps, per_minute)
    over = np.maximum(demand_tick - cap, 0.0) * dt
    cap_minute = cap.reshape(-1, per_minute).sum(axis=1) * dt
    under = demand_rps * 60 > cap_minute + 1e-6
    summary = {
        "underprovisioned_minutes": int(under.sum()),
        "requests_over_capacity": float(over.sum()),
        "requests_over_capacity_fraction": float(over.sum() / max(demand_rps.sum() * 60, 1e-9)),
        "replica_hours": float(replicas.sum() * dt / 3600),
        "scaling_events": int(np.count_nonzero(np.diff(replicas))),
        "mean_utilisation": float(demand_tick.sum() / max(cap.sum(), 1e-9)),
        "max_replicas": int(replicas.max()),
    }
    return PolicyRun(name, replicas, ready, summary)


def reactive_metric(demand_rps: np.ndarray) -> np.ndarray:
    """What ``rate(...[1m])`` shows during minute m: the rate of minute m - 1."""
    return np.concatenate(([demand_rps[0]], demand_rps[:-1]))


def predictive_metric(forecast_by_target: np.ndarray, demand_rps: np.ndarray, horizon: int) -> np.ndarray:
    """The scaler's answer during minute m: the forecast for minute m - 1 + horizon.

    Where no forecast exists (warm-up) the scaler falls back to the observed rate, as in production.
    """
    n = len(demand_rps)
    out = np.full(n, np.nan)
    out[: n - horizon + 1] = forecast_by_target[horizon - 1 :]
    observed = reactive_metric(demand_rps)
    return np.where(np.isnan(out), observed, out)


def simulate_policies(
    demand_rps: np.ndarray, forecast_by_target: np.ndarray, cfg: AutoscalingParams
) -> dict[str, PolicyRun]:
    """Run reactive, predictive (reactive + predictive triggers, as deployed) and static-peak."""
    runs: dict[str, PolicyRun] = {}
    reactive = reactive_metric(demand_rps)
    predictive = predictive_metric(forecast_by_target, demand_rps, cfg.horizon_minutes)
    reactive_goal = cfg.target_rps_per_pod
    predictive_goal = cfg.predictive_target_rps_per_pod
    for name, metrics, goals in (
        ("reactive", [reactive], [reactive_goal]),
        ("predictive", [reactive, predictive], [reactive_goal, predictive_goal]),
        ("predictive_only", [predictive], [predictive_goal]),
    ):
        replicas, ready, _ = run_hpa(metrics, cfg, goals)
        runs[name] = score(name, demand_rps, replicas, ready, cfg)
    per_minute = 60 // cfg.sync_period_s
    peak = min(
        max(math.ceil(float(demand_rps.max()) / cfg.target_rps_per_pod), cfg.min_replicas), cfg.max_replicas
    )
    static = np.full(len(demand_rps) * per_minute, peak, dtype=np.int32)
    runs["static_peak"] = score("static_peak", demand_rps, static, static, cfg)
    return runs


def scale_demand(counts: np.ndarray, cfg: AutoscalingParams) -> tuple[np.ndarray, float]:
    """Requests/minute -> scoring work (SRE/s), scaled so the busiest minute is ``peak_demand_pods``
    pods' full capacity. No target enters: the demand stays put when a target changes."""
    work = counts / 60 * cfg.work_per_request
    peak = float(work.max())
    if peak <= 0:
        raise ValueError("the trace holds no requests")
    factor = cfg.peak_demand_pods * cfg.pod_capacity_rps / peak
    return work * factor, factor
