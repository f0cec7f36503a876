"""The demand held apart from the targets, the reactive sweep at equal cost, KEDA's fallback in an outage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from sentiment_mlops.autoscaling import scenarios
from sentiment_mlops.autoscaling.config import (
    SIZING_BENCH,
    AutoscalingParams,
    measured_costs,
    scoring_work_query,
)
from sentiment_mlops.autoscaling.simulator import run_hpa, scale_demand
from sentiment_mlops.workspace import monitoring as mon
from tests.unit.autoscaling.sizing import TARGET, params, per_minute

# --- the demand does not move with the target ------------------------------------------------


@pytest.mark.parametrize("utilisation", [0.5, 0.7, 0.9])
def test_the_demand_does_not_depend_on_the_target(utilisation: float) -> None:
    counts = np.array([60.0, 600.0, 6000.0, 120.0])
    demand, _ = scale_demand(counts, params(target_utilisation=utilisation))
    # The defect as it was: the peak was peak_pods x (capacity x target), so it moved with the target.
    assert demand.max() == pytest.approx(11.2 * 400)
    assert demand.tolist() == pytest.approx([44.8, 448.0, 4480.0, 89.6])


def test_batch_requests_weigh_more_work_than_single_ones() -> None:
    counts = np.array([60.0, 120.0])
    single, _ = scale_demand(counts, params())
    batches, _ = scale_demand(counts, params(reviews_per_request=100))
    # The peak is pinned, so the shape is the same; the work per request is not.
    assert params(reviews_per_request=100).work_per_request == pytest.approx(0.836 + 16.4)
    assert single.tolist() == pytest.approx(batches.tolist())


# --- KEDA's fallback while a trigger fails ---------------------------------------------------


def outage_run(behavior: str) -> np.ndarray:
    """Reactive asks for 16 pods throughout; the second trigger fails from minute 5 to 15."""
    minutes = 25
    reactive = np.full(minutes, 16 * TARGET)
    forecast = np.full(minutes, 16 * 340.0)
    down = np.zeros(minutes, bool)
    down[5:15] = True
    cfg = params(startup_delay_s=0, fallback_behavior=behavior, fallback_replicas=6)
    replicas, _, _ = run_hpa([reactive, forecast], cfg, [TARGET, 340.0], [None, down])
    return per_minute(replicas)


def test_static_fallback_pins_the_deployment_whatever_the_other_trigger_asks() -> None:
    replicas = outage_run("static")
    # 3 failed polls (45 s) hold 16; from then until the source is back, exactly 6 (keda#6659).
    assert replicas[:5].tolist() == [16] * 5
    assert replicas[6:15].tolist() == [6] * 9
    assert replicas[16:].max() == 16  # scales out again once the trigger answers


def test_current_replicas_if_higher_keeps_what_the_other_triggers_need() -> None:
    replicas = outage_run("currentReplicasIfHigher")
    assert (replicas == 16).all()


def test_current_replicas_if_higher_never_scales_down_during_the_outage() -> None:
    minutes = 20
    reactive = np.concatenate([np.full(5, 12 * TARGET), np.full(15, 2 * TARGET)])
    down = np.zeros(minutes, bool)
    down[3:] = True
    cfg = params(startup_delay_s=0, fallback_replicas=6, scale_down_percent=100, scale_down_period_s=15)
    replicas = per_minute(run_hpa([reactive, reactive], cfg, [TARGET, TARGET], [None, down])[0])
    assert replicas.min() == 12  # the failing trigger asks for max(current, 6)


def test_the_outage_lands_in_the_busiest_hour() -> None:
    demand = np.concatenate([np.full(100, 10.0), np.full(60, 99.0), np.full(100, 10.0)])
    assert scenarios.busiest_window(demand, 60) == 100


# --- the reactive sweep and the comparison at equal cost -------------------------------------


def test_equal_cost_interpolates_the_reactive_curve() -> None:
    sweep = [
        {
            "target_utilisation": 0.6,
            "replica_hours": 120.0,
            "underprovisioned_minutes": 100,
            "requests_over_capacity": 10.0,
        },
        {
            "target_utilisation": 0.7,
            "replica_hours": 100.0,
            "underprovisioned_minutes": 200,
            "requests_over_capacity": 30.0,
        },
    ]
    predictive = {"replica_hours": 110.0, "underprovisioned_minutes": 90, "requests_over_capacity": 5.0}
    got = scenarios.equal_cost_comparison(sweep, predictive)
    assert got["reactive_underprovisioned_minutes"] == pytest.approx(150)
    assert got["underprovisioned_minutes_reduction"] == pytest.approx(0.4)
    assert scenarios.at_equal_cost(sweep, 130.0, "underprovisioned_minutes") is None


def test_a_lower_target_costs_more_and_under_provisions_less() -> None:
    rng = np.random.default_rng(0)
    demand = 2000 + 1500 * np.sin(np.arange(1440) / 1440 * 2 * np.pi) + rng.normal(0, 150, 1440)
    rows = scenarios.sweep_reactive(
        np.clip(demand, 0, None), params(sweep_target_utilisations=[0.5, 0.7, 0.9])
    )
    hours = [r["replica_hours"] for r in rows]
    under = [r["underprovisioned_minutes"] for r in rows]
    assert hours == sorted(hours, reverse=True)
    assert under == sorted(under)


# --- one unit everywhere: the KEDA queries, the scaler's default, the rule, the benchmark -----


def test_the_costs_are_the_benchmarks(repo_root: Path) -> None:
    request, review = measured_costs(repo_root / "reports" / "bench" / SIZING_BENCH)
    cfg = yaml.safe_load((repo_root / "params.yaml").read_text())["autoscaling"]
    assert (cfg["request_cost"], cfg["review_cost"]) == (round(request, 3), round(review, 3))
    bench = json.loads((repo_root / "reports" / "bench" / SIZING_BENCH).read_text())
    # A 100-review batch is about 17 single requests of work.
    assert request + bench["batch_size"] * review == pytest.approx(bench["rps"] / bench["batch_rps"])


def test_every_query_scales_on_the_scoring_work(repo_root: Path) -> None:
    cfg = AutoscalingParams.model_validate(
        yaml.safe_load((repo_root / "params.yaml").read_text())["autoscaling"]
    )
    assert scoring_work_query(cfg) == mon.KEDA_TRIGGER_QUERY
    k8s = repo_root / "deploy" / "k8s"
    files = {
        "base/scaledobject.yaml": scoring_work_query(cfg),
        "components/predictive-scaler/scaledobject-trigger.yaml": scoring_work_query(cfg),
        "components/predictkube/scaledobject-trigger.yaml": scoring_work_query(cfg, "2m"),
    }
    for name, query in files.items():
        text = (k8s / name).read_text()
        assert f"query: {query}\n" in text, name
    from sentiment_mlops.autoscaling.trigger import parse_metadata

    meta = parse_metadata({"serverAddress": "http://127.0.0.1:9", "targetPerPod": "1"}, cfg)
    assert meta.query == scoring_work_query(cfg)
