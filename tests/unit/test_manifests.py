"""The deployment as committed: every overlay and component rendered with the real ``kubectl
kustomize`` and validated strictly (:mod:`tests.unit.manifest_checks`), the images CD pins, the
contracts between objects (autoscaler metric, scrape port, drain time) and the EKS cluster config.
Deliberately broken copies are in :mod:`tests.unit.test_manifests_rejects`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.unit.manifest_checks import (
    _containers,
    _pod_spec,
    _report,
    _selects,
    all_problems,
    eksctl_problems,
)
from tests.unit.manifest_render import (
    CLUSTER_CONFIG,
    COMPONENTS,
    DEPLOY,
    K8S,
    OVERLAYS,
    Obj,
    _one,
    component_images,
    component_order,
    render,
    write_overlay,
)

pytestmark = pytest.mark.integration  # renders with kubectl kustomize

ECR_IMAGE = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/sentiment-api(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$"
)
# vCPU and GiB of the instance types the node groups may use; add a row when cluster.yaml changes.
INSTANCE_TYPES = {"c6i.large": (2, 4), "c6i.xlarge": (4, 8), "c6i.2xlarge": (8, 16), "m6i.xlarge": (4, 16)}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    """Each overlay as rendered by kubectl kustomize."""
    return {name: render(K8S / "overlays" / name) for name in OVERLAYS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_strictly(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    kinds = {o["kind"] for o in objects}
    expected = {
        "Namespace",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "ScaledObject",
        "PrometheusRule",
    }
    assert expected <= kinds, f"{overlay} is missing {expected - kinds}"
    assert all(o["metadata"].get("namespace") == "sentiment" for o in objects if o["kind"] != "Namespace")
    dashboards = [o for o in objects if o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert dashboards and all(o["kind"] == "ConfigMap" for o in dashboards)
    assert all_problems(objects) == [], _report(all_problems(objects))


def test_overlays_set_pinned_images(rendered: dict[str, list[Obj]]) -> None:
    local = {c["image"] for c in _containers(rendered["local"])}
    eks = {c["image"] for c in _containers(rendered["eks"])}
    assert local and all(re.fullmatch(r"localhost/sentiment-api:\d+\.\d+\.\d+", i) for i in local), local
    assert eks and all(ECR_IMAGE.match(i) for i in eks), eks


DIGEST = "sha256:" + "ab" * 32
CD_REPO = "444455556666.dkr.ecr.us-east-2.amazonaws.com/sentiment-api"


def test_cd_pins_the_eks_image_by_digest(deploy_copy: Path) -> None:
    """What `kustomize edit set image sentiment-api=REPO@DIGEST` writes into the eks overlay, pinned."""
    path = deploy_copy / "k8s" / "overlays" / "eks" / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    (entry,) = kustomization["images"]
    assert entry["name"] == "sentiment-api"
    kustomization["images"] = [{"name": "sentiment-api", "newName": CD_REPO, "digest": DIGEST}]
    path.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    objects = render(path.parent)
    assert {c["image"] for c in _containers(objects)} == {f"{CD_REPO}@{DIGEST}"}
    assert all_problems(objects) == [], _report(all_problems(objects))


def test_kubectl_only_cd_overlay_pins_the_image(tmp_path: Path) -> None:
    """The kubectl-only variant from docs/deploy-eks.md: a throw-away overlay renaming the eks image."""
    (entry,) = yaml.safe_load((K8S / "overlays" / "eks" / "kustomization.yaml").read_text())["images"]
    images = {"images": [{"name": entry["newName"], "newName": CD_REPO, "digest": DIGEST}]}
    objects = render(write_overlay(tmp_path / "cd", K8S / "overlays" / "eks", [], images))
    assert {c["image"] for c in _containers(objects)} == {f"{CD_REPO}@{DIGEST}"}
    assert all_problems(objects) == [], _report(all_problems(objects))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_with_all_components_validates(tmp_path: Path, overlay: str) -> None:
    assert {"istio", "predictkube"} <= set(COMPONENTS), COMPONENTS
    names = component_order(COMPONENTS)
    components = [K8S / "components" / c for c in names]
    objects = render(
        write_overlay(tmp_path / "all", K8S / "overlays" / overlay, components, component_images(names))
    )
    assert all_problems(objects) == [], _report(all_problems(objects))
    assert len([o for o in objects if o["kind"] == "ScaledObject"]) == 1


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_component_alone_on_eks_validates(tmp_path: Path, component: str) -> None:
    names = component_order([component])
    needed = [K8S / "components" / c for c in names]
    objects = render(
        write_overlay(tmp_path / component, K8S / "overlays" / "eks", needed, component_images(names))
    )
    assert all_problems(objects) == [], _report(all_problems(objects))


def test_reactive_scaledobject_matches_the_metric_contract(rendered: dict[str, list[Obj]]) -> None:
    scaled = _one(rendered["eks"], "ScaledObject", "sentiment-api")
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "sentiment-api"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 20)
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert (
        trigger["metadata"]["serverAddress"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    )
    metric = re.match(r"sum\(rate\((\w+)\{", trigger["metadata"]["query"])
    assert metric, trigger["metadata"]["query"]
    assert f"`{metric.group(1)}`" in (REPO_ROOT / "docs" / "metrics.md").read_text(), metric.group(1)
    assert float(trigger["metadata"]["threshold"]) > 0


def test_service_monitor_scrapes_the_named_port(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["eks"]
    monitor = _one(objects, "ServiceMonitor", "sentiment-api")
    service = _one(objects, "Service", "sentiment-api")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert _selects(monitor["spec"]["selector"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    container = _pod_spec(_one(objects, "Deployment", "sentiment-api"))["containers"][0]
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]


def test_graceful_drain_fits_the_grace_period(rendered: dict[str, list[Obj]]) -> None:
    pod = _pod_spec(_one(rendered["eks"], "Deployment", "sentiment-api"))
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop + int(env["GUNICORN_GRACEFUL_TIMEOUT"]) < pod["terminationGracePeriodSeconds"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", env["PROMETHEUS_MULTIPROC_DIR"]} <= mounts


def test_predictkube_combines_with_the_reactive_trigger(tmp_path: Path) -> None:
    objects = render(
        write_overlay(tmp_path / "pk", K8S / "overlays" / "eks", [K8S / "components" / "predictkube"])
    )
    scaled = _one(objects, "ScaledObject", "sentiment-api")
    types = [t["type"] for t in scaled["spec"]["triggers"]]
    assert types == ["prometheus", "predictkube"]
    predictkube = scaled["spec"]["triggers"][1]
    auth = _one(objects, "TriggerAuthentication", predictkube["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "apiKey", "name": "predictkube-secret", "key": "apiKey"}
    ]
    assert "apiKey" not in predictkube["metadata"]
    assert not [o for o in objects if o["kind"] == "Secret"]


def test_istio_component_enforces_mtls_and_replaces_the_alb(tmp_path: Path) -> None:
    objects = render(
        write_overlay(tmp_path / "istio", K8S / "overlays" / "eks", [K8S / "components" / "istio"])
    )
    assert _one(objects, "Namespace", "sentiment")["metadata"]["labels"]["istio-injection"] == "enabled"
    assert _one(objects, "PeerAuthentication", "default")["spec"]["mtls"]["mode"] == "STRICT"
    rule = _one(objects, "DestinationRule", "sentiment-api")["spec"]["trafficPolicy"]
    assert rule["outlierDetection"]["consecutive5xxErrors"] > 0
    assert not [o for o in objects if o["kind"] == "Ingress"], "plain-HTTP ALB cannot reach STRICT mTLS pods"
    monitor = _one(objects, "ServiceMonitor", "sentiment-api")
    ports = {p["name"]: p["port"] for p in _one(objects, "Service", "sentiment-api")["spec"]["ports"]}
    assert ports[monitor["spec"]["endpoints"][0]["port"]] == 15020


def test_eks_cluster_config_is_valid_and_consistent(rendered: dict[str, list[Obj]]) -> None:
    config = yaml.safe_load(CLUSTER_CONFIG.read_text())
    assert eksctl_problems(config) == [], _report(eksctl_problems(config))
    assert config["iam"]["withOIDC"] is True
    accounts = {a["metadata"]["name"]: a for a in config["iam"]["serviceAccounts"]}
    assert accounts["cluster-autoscaler"]["wellKnownPolicies"]["autoScaler"] is True
    (group,) = config["managedNodeGroups"]
    assert 2 <= group["minSize"] <= group["desiredCapacity"] <= group["maxSize"], group
    # The node group at its maximum must hold the API at its maximum replica count (by CPU request).
    vcpu, _ = INSTANCE_TYPES[group["instanceType"]]
    deployment = _one(rendered["eks"], "Deployment", "sentiment-api")
    cpu_request = _pod_spec(deployment)["containers"][0]["resources"]["requests"]["cpu"]
    cpu = float(cpu_request[:-1]) / 1000 if cpu_request.endswith("m") else float(cpu_request)
    max_replicas = _one(rendered["eks"], "ScaledObject", "sentiment-api")["spec"]["maxReplicaCount"]
    assert max_replicas * cpu <= group["maxSize"] * (vcpu - 0.5), "node group too small for maxReplicaCount"
    assert group["minSize"] * (vcpu - 0.5) >= 2 * cpu


def test_helm_values_and_extra_manifests_parse_and_validate() -> None:
    for path in sorted((DEPLOY / "eks" / "helm").glob("*.yaml")):
        assert isinstance(yaml.safe_load(path.read_text()), dict), path
    objects = [yaml.safe_load((DEPLOY / "eks" / "storageclass-gp3.yaml").read_text())]
    assert all_problems(objects) == [], _report(all_problems(objects))
