"""params.yaml is the one source of the autoscaling numbers: the model's defaults (what the scaler's
container runs with) and the deployed ScaledObject and triggers must say the same, whatever the
values are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sentiment_mlops.autoscaling.config import AutoscalingParams, parse_autoscaling
from sentiment_mlops.config import load_params
from tests.conftest import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"


@pytest.fixture(scope="module")
def params() -> AutoscalingParams:
    return parse_autoscaling(load_params(REPO_ROOT / "params.yaml").autoscaling)


def _patched_trigger(path: Path) -> dict[str, Any]:
    """The trigger a component's JSON patch appends to the ScaledObject."""
    (op,) = [o for o in yaml.safe_load(path.read_text()) if o["path"] == "/spec/triggers/-"]
    trigger: dict[str, Any] = op["value"]
    return trigger


def _scaled_object() -> dict[str, Any]:
    docs = yaml.safe_load_all((K8S / "base" / "scaledobject.yaml").read_text())
    (scaled,) = [d for d in docs if d and d.get("kind") == "ScaledObject"]
    return scaled


def test_defaults_equal_params_yaml(params: AutoscalingParams) -> None:
    defaults = AutoscalingParams().model_dump()
    differ = {k: (v, params.model_dump()[k]) for k, v in defaults.items() if params.model_dump()[k] != v}
    assert differ == {}, f"defaults (left) differ from params.yaml (right): {differ}"


def test_scaled_object_replicas_and_scale_down_follow_params(params: AutoscalingParams) -> None:
    spec = _scaled_object()["spec"]
    assert spec["minReplicaCount"] == params.min_replicas
    assert spec["maxReplicaCount"] == params.max_replicas
    down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] == params.scale_down_stabilisation_s
    assert down["policies"] == [
        {"type": "Percent", "value": params.scale_down_percent, "periodSeconds": params.scale_down_period_s}
    ]


def test_reactive_threshold_is_the_derived_per_pod_target(params: AutoscalingParams) -> None:
    (trigger,) = [
        t for t in _scaled_object()["spec"]["triggers"] if t["type"] == "prometheus"
    ]  # the reactive one
    assert trigger["metricType"] == "AverageValue"
    assert float(trigger["metadata"]["threshold"]) == pytest.approx(params.target_rps_per_pod)


def test_predictkube_uses_the_reactive_per_pod_target(params: AutoscalingParams) -> None:
    trigger = _patched_trigger(K8S / "components" / "predictkube" / "scaledobject-trigger.yaml")
    assert float(trigger["metadata"]["threshold"]) == pytest.approx(params.target_rps_per_pod)


def test_predictive_trigger_metadata_follows_params(params: AutoscalingParams) -> None:
    trigger = _patched_trigger(K8S / "components" / "predictive-scaler" / "scaledobject-trigger.yaml")
    meta = trigger["metadata"]
    assert float(meta["targetPerPod"]) == pytest.approx(params.predictive_target_rps_per_pod)
    assert int(meta["horizon"]) == params.horizon_minutes
    assert float(meta["quantile"]) == pytest.approx(params.quantile)
    assert float(meta["historyDays"]) == pytest.approx(params.fit_window_days)
    assert int(meta["refitMinutes"]) == params.refit_minutes
