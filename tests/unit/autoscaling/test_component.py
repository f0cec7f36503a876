"""The predictive-scaler kustomize component: valid manifests, one ScaledObject, metadata the scaler reads."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from sentiment_mlops.autoscaling.config import AutoscalingParams
from sentiment_mlops.autoscaling.trigger import parse_metadata
from tests.unit.manifest_checks import _pod_spec, all_problems, cluster_version
from tests.unit.manifest_render import K8S, _one, render, write_overlay

pytestmark = pytest.mark.integration  # renders with kubectl kustomize

COMPONENT = K8S / "components" / "predictive-scaler"


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The eks overlay with this component, as ``kubectl kustomize`` renders it."""
    return render(write_overlay(tmp_path_factory.mktemp("ps"), K8S / "overlays" / "eks", [COMPONENT]))


def test_component_kind() -> None:
    kustomization = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1alpha1"
    assert kustomization["kind"] == "Component"


def test_rendered_objects_pass_schemas_and_review(objects: list[dict]) -> None:
    assert all_problems(objects) == []


def test_scaledobject_validates_against_the_keda_crd(objects: list[dict], shared: Path) -> None:
    schema = json.loads((shared / "schemas/crds/keda.sh/scaledobject_v1alpha1.json").read_text())
    scaled = [o for o in objects if o["kind"] == "ScaledObject"]
    assert len(scaled) == 1  # one HPA for the API: the predictive trigger joins the reactive one
    jsonschema.validate(scaled[0], schema)
    for kind, name in (("Deployment", "sentiment-scaler"), ("Service", "sentiment-scaler")):
        kubernetes_validate.validate(_one(objects, kind, name), cluster_version(), strict=True)


def test_both_triggers_scale_the_api_and_the_external_one_reaches_the_scaler(objects: list[dict]) -> None:
    scaled = _one(objects, "ScaledObject", "sentiment-api")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "sentiment-api"
    reactive, predictive = scaled["spec"]["triggers"]
    assert (reactive["type"], predictive["type"]) == ("prometheus", "external")
    assert predictive["metricType"] == "AverageValue"
    meta = predictive["metadata"]
    assert meta["query"] == reactive["metadata"]["query"]
    assert meta["serverAddress"] == reactive["metadata"]["serverAddress"]
    host, port = meta["scalerAddress"].rsplit(":", 1)
    service = _one(objects, "Service", "sentiment-scaler")
    assert host == f"sentiment-scaler.{service['metadata']['namespace']}.svc.cluster.local"
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    api = _pod_spec(_one(objects, "Deployment", "sentiment-api"))["containers"][0]
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in api["ports"]


def test_trigger_metadata_is_what_the_scaler_accepts(objects: list[dict], repo_root: Path) -> None:
    scaled = _one(objects, "ScaledObject", "sentiment-api")
    meta = scaled["spec"]["triggers"][1]["metadata"]
    parsed = parse_metadata(meta, AutoscalingParams.model_validate({}))  # KEDA passes all of it
    params = yaml.safe_load((repo_root / "params.yaml").read_text())["autoscaling"]
    # The deployed trigger is the configuration the simulator evaluated.
    assert parsed.horizon == params["horizon_minutes"]
    assert parsed.quantile == params["quantile"]
    assert parsed.target_per_pod == pytest.approx(
        params["pod_capacity_rps"] * params["predictive_target_utilisation"]
    )
    assert parsed.history_days == params["fit_window_days"]
    assert parsed.step == 60


def test_scaler_pod_is_probed_over_grpc_health_and_runs_unprivileged(objects: list[dict]) -> None:
    pod = _pod_spec(_one(objects, "Deployment", "sentiment-scaler"))
    (container,) = pod["containers"]
    assert container["image"].split(":")[0].endswith("sentiment-scaler")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["grpc"]["port"] == 6000
    assert container["readinessProbe"]["grpc"]["service"] == "externalscaler.ExternalScaler"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["args"] == ["--host", "0.0.0.0", "--port", "6000", "--metrics-port", "9102"]
    monitor = _one(objects, "ServiceMonitor", "sentiment-scaler")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
