"""The HPA/KEDA model and the policy comparison: the semantics users rely on and its invariants."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sentiment_mlops.autoscaling.simulator import run_hpa, scale_demand, simulate_policies
from sentiment_mlops.autoscaling.trace import read_trace
from tests.unit.autoscaling.sizing import TARGET, params, per_minute


@pytest.fixture(scope="module")
def week(nasa_trace: Path) -> np.ndarray:
    """A week of the real trace (8-14 July, with the STS-70 launch): its peak is 11.2 pods' capacity."""
    counts = read_trace(nasa_trace).values[7 * 1440 : 14 * 1440]
    demand, _ = scale_demand(counts, params())
    return demand


def test_average_value_asks_for_ceil_metric_over_target() -> None:
    replicas, ready, _ = run_hpa([np.full(10, 1000.0)], params())
    assert (replicas == math.ceil(1000 / TARGET)).all()
    assert (ready == replicas).all()


def test_scale_up_is_limited_to_double_or_four_pods_per_sync() -> None:
    metric = np.concatenate([np.full(5, 2 * TARGET), np.full(5, 20 * TARGET)])
    replicas, _, _ = run_hpa([metric], params(startup_delay_s=0))
    assert replicas[19:24].tolist() == [2, 6, 12, 20, 20]


def test_tolerance_keeps_the_current_size() -> None:
    metric = np.concatenate(
        [np.full(3, 4 * TARGET), np.full(3, 4 * TARGET * 1.08), np.full(3, 4 * TARGET * 1.2)]
    )
    replicas = per_minute(run_hpa([metric], params())[0])
    assert replicas.tolist() == [4, 4, 4, 4, 4, 4, 5, 5, 5]


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    metric = np.concatenate([np.full(3, 10 * TARGET), np.full(10, 2 * TARGET)])
    replicas = per_minute(run_hpa([metric], params(scale_down_percent=100, scale_down_period_s=15))[0])
    # The last high recommendation is at 165 s; 300 s later (465 s, minute 7) the largest recent
    # recommendation is 2, and the default policy removes the rest at once.
    ticks = run_hpa([metric], params(scale_down_percent=100, scale_down_period_s=15))[0]
    assert ticks[: 465 // 15].tolist() == [10] * 31
    assert (ticks[465 // 15 :] == 2).all()
    assert replicas[8:].tolist() == [2] * 5


def test_scale_down_rate_policy_removes_a_quarter_per_minute() -> None:
    metric = np.concatenate([np.full(3, 16 * TARGET), np.full(20, 2 * TARGET)])
    replicas = per_minute(run_hpa([metric], params(scale_down_percent=25, scale_down_period_s=60))[0])
    # From 465 s on: a quarter of the pods (truncated) per minute, down to the minimum of 2.
    assert replicas[7:16].tolist() == [12, 9, 6, 4, 3, 2, 2, 2, 2]


def test_new_pods_serve_after_the_startup_delay() -> None:
    metric = np.concatenate([np.full(2, 2 * TARGET), np.full(4, 6 * TARGET)])
    replicas, ready, _ = run_hpa([metric], params(startup_delay_s=90))
    first_up = int(np.argmax(replicas > 2))
    assert ready[first_up] == 2
    assert ready[first_up + 5] == 2 and ready[first_up + 6] == replicas[first_up]  # 90 s = 6 syncs


def test_several_triggers_take_the_largest() -> None:
    replicas, _, _ = run_hpa([np.full(4, 3 * TARGET), np.full(4, 7 * 340.0)], params(), [TARGET, 340.0])
    assert (replicas == 7).all()


def test_infinite_capacity_is_never_under_provisioned(week: np.ndarray) -> None:
    runs = simulate_policies(week, week * 0.1, params(pod_capacity_rps=1e12))
    for run in runs.values():
        assert run.summary["underprovisioned_minutes"] == 0, run.name
        assert run.summary["requests_over_capacity"] == 0, run.name


def test_perfect_forecast_without_startup_delay_is_never_worse_than_reactive(week: np.ndarray) -> None:
    cfg = params(startup_delay_s=0, predictive_target_utilisation=0.7)
    runs = simulate_policies(week, week.copy(), cfg)  # forecast for minute j is the demand of minute j
    reactive, predictive = runs["reactive"].summary, runs["predictive"].summary
    assert reactive["underprovisioned_minutes"] > 0  # the reactive lag does cost something here
    assert predictive["underprovisioned_minutes"] <= reactive["underprovisioned_minutes"]
    assert predictive["requests_over_capacity"] <= reactive["requests_over_capacity"]


def test_static_peak_covers_every_minute(week: np.ndarray) -> None:
    run = simulate_policies(week, week, params())["static_peak"]
    assert run.summary["underprovisioned_minutes"] == 0
    assert run.summary["max_replicas"] == math.ceil(week.max() / TARGET) == 16
    assert run.summary["replica_hours"] == pytest.approx(16 * 7 * 24)


def test_trace_is_scaled_so_the_peak_is_peak_demand_pods_of_capacity(week: np.ndarray) -> None:
    assert week.max() == pytest.approx(11.2 * 400)
    assert week.max() == pytest.approx(16 * TARGET)  # 16 pods at the 70% target
