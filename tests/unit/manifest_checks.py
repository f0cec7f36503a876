"""Offline validation of the deployment: Kubernetes manifests, kustomize overlays and components, EKS config.

Every overlay is rendered with the real ``kubectl kustomize``; every rendered object is validated
strictly (unknown fields are errors): core kinds with kubernetes-validate at the cluster's
Kubernetes version (read from deploy/eks/cluster.yaml), CRD kinds (KEDA, Prometheus Operator,
Istio) against the CRD schemas in the shared material, and the eksctl ClusterConfig against
eksctl's schema. On top of the schemas come the checks a reviewer makes (pinned images, probes,
requests and limits, hardened security context, PDB, autoscaler target). The same validator is
run on deliberately broken copies and must reject each of them.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from tests.conftest import REPO_ROOT, shared_dir

pytestmark = pytest.mark.integration  # renders with kubectl kustomize

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("local", "eks")
COMPONENTS = sorted(p.parent.name for p in (K8S / "components").glob("*/kustomization.yaml"))
# Components that patch another component's objects, which must be listed before them.
REQUIRES = {"canary": ["istio"]}
# Images a component leaves for the release to pin (deploy/render-overlay.sh), pinned here as CD does.
COMPONENT_IMAGES = {
    "shadow": [
        {
            "name": "sentiment-api-challenger",
            "newName": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/sentiment-api",
            "digest": "sha256:" + "cd" * 32,
        }
    ]
}
CLUSTER_CONFIG = DEPLOY / "eks" / "cluster.yaml"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Rollout"}
# What a ScaledObject may scale here: (apiVersion, kind). An Argo Rollout has the /scale subresource.
SCALABLE = {("apps/v1", "Deployment"), ("argoproj.io/v1alpha1", "Rollout")}
CLUSTER_SCOPED = {
    "Namespace",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterTriggerAuthentication",
}
OBJECT_META = (
    "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)
ECR_IMAGE = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/sentiment-api(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$"
)
# vCPU and GiB of the instance types the node groups may use; add a row when cluster.yaml changes.
INSTANCE_TYPES = {"c6i.large": (2, 4), "c6i.xlarge": (4, 8), "c6i.2xlarge": (8, 16), "m6i.xlarge": (4, 16)}

Obj = dict[str, Any]


# ---------------------------------------------------------------- rendering


@functools.cache
def kubectl() -> str:
    # The locked kubectl wheel in this virtualenv (`make setup`), else one on PATH.
    local = Path(sys.executable).parent / "kubectl"
    path = str(local) if local.is_file() else shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl not found on PATH: the manifest tests render overlays with `kubectl kustomize` "
            "(kubectl >= 1.27, kustomize v5): run `make setup`, which installs it from uv.lock."
        )
    return path


def render(directory: Path) -> list[Obj]:
    """Objects produced by ``kubectl kustomize DIRECTORY``; a kustomize error fails with its message."""
    proc = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=120
    )
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def write_overlay(directory: Path, parent: Path, components: list[Path], extra: Obj | None = None) -> Path:
    """A throw-away kustomization on top of PARENT adding COMPONENTS (relative paths, as kustomize wants)."""
    directory.mkdir(parents=True, exist_ok=True)
    rel = functools.partial(_relpath, start=directory)
    kustomization: Obj = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [rel(parent)],
        "components": [rel(c) for c in components],
        **(extra or {}),
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return directory


def component_order(names: list[str]) -> list[str]:
    """NAMES with the components they require, each after what it requires."""
    ordered: list[str] = []
    for name in names:
        for needed in [*REQUIRES.get(name, []), name]:
            if needed not in ordered:
                ordered.append(needed)
    return ordered


def component_images(names: list[str]) -> Obj:
    """The ``images:`` a kustomization adding the components NAMES needs (empty when none)."""
    images = [image for name in names for image in COMPONENT_IMAGES.get(name, [])]
    return {"images": images} if images else {}


def _relpath(path: Path, start: Path) -> str:
    # kustomize refuses absolute paths to other kustomizations.
    return os.path.relpath(path.resolve(), start.resolve())


# ---------------------------------------------------------------- schema validation


def cluster_version() -> str:
    """The Kubernetes version the EKS cluster runs: manifests are validated against it."""
    return str(yaml.safe_load(CLUSTER_CONFIG.read_text())["metadata"]["version"])


@functools.cache
def _object_meta_validator(version: str) -> jsonschema.protocols.Validator:
    # kubernetes-validate's strict definitions, so CRD objects get the same metadata checks as core ones.
    chosen = [v for v in kv_utils.all_versions() if kv_utils.major_minor(v) <= version][-1]
    defs = kv_utils.schema_contents(
        f"kubernetes-json-schema/v{chosen}-local-strict/_definitions.json", version
    )
    registry: Registry = Resource.from_contents(defs) @ Registry()
    return jsonschema.Draft202012Validator({"$ref": OBJECT_META}, registry=registry)


@functools.cache
def _crd_validator(group: str, kind: str, version: str) -> jsonschema.protocols.Validator | None:
    path = shared_dir() / "schemas" / "crds" / group / f"{kind.lower()}_{version}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    # The CRD schemas are strict below the top level only (Istio's do not even list apiVersion,
    # kind and metadata there): declare those and reject any other unknown top-level field.
    properties = schema.setdefault("properties", {})
    for key in ("apiVersion", "kind"):
        properties.setdefault(key, {"type": "string"})
    properties.setdefault("metadata", {"type": "object"})
    schema.setdefault("additionalProperties", False)
    return jsonschema.Draft7Validator(schema)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<root>"


def schema_problems(obj: Obj, version: str) -> list[str]:
    """Strict schema errors of one rendered object (empty when it is valid)."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = f"{kind}/{obj.get('metadata', {}).get('name', '?')}"
    group = api_version.rpartition("/")[0]
    if "." not in group or group.endswith(".k8s.io"):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            return [f"{name}: {_where(err)}: {err.message}"]
        except kubernetes_validate.SchemaNotFoundError as err:
            return [f"{name}: {err.message}"]
        return []
    validator = _crd_validator(group, kind, api_version.rpartition("/")[2])
    if validator is None:
        return [f"{name}: no schema for {api_version} {kind} under {shared_dir() / 'schemas' / 'crds'}"]
    errors = [f"{name}: {_where(e)}: {e.message}" for e in validator.iter_errors(obj)]
    errors += [
        f"{name}: metadata.{_where(e)}: {e.message}"
        for e in _object_meta_validator(version).iter_errors(obj.get("metadata", {}))
    ]
    return errors


def eksctl_problems(config: Obj) -> list[str]:
    schema_path = shared_dir() / "schemas" / "eksctl" / "clusterconfig_v1alpha5.schema.json"
    validator = jsonschema.Draft7Validator(json.loads(schema_path.read_text()))
    return [f"ClusterConfig: {_where(e)}: {e.message}" for e in validator.iter_errors(config)]


# ---------------------------------------------------------------- reviewer checks


def _pod_spec(obj: Obj) -> Obj:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def _image_problem(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag or digest"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses the mutable tag 'latest'"
    return None


def _container_problems(container: Obj, pod_security: Obj, init: bool) -> Iterator[str]:
    image_problem = _image_problem(container.get("image", ""))
    if image_problem:
        yield image_problem
    resources = container.get("resources", {})
    for section in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(section, {}):
                yield f"no {section}.{resource}"
    if not init:
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in container:
                yield f"no {probe}"
    security = container.get("securityContext", {})
    if not security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
        yield "runAsNonRoot is not true"
    if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
        yield "runs as uid 0"
    if security.get("readOnlyRootFilesystem") is not True:
        yield "readOnlyRootFilesystem is not true"
    if security.get("allowPrivilegeEscalation") is not False:
        yield "allowPrivilegeEscalation is not false"
    if "ALL" not in security.get("capabilities", {}).get("drop", []):
        yield "capabilities do not drop ALL"
    seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
    if seccomp.get("type") != "RuntimeDefault":
        yield "seccompProfile is not RuntimeDefault"


def _selects(selector: Obj, labels: Obj) -> bool:
    match = selector.get("matchLabels", selector)
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def review_problems(objects: list[Obj]) -> list[str]:
    """What a reviewer would reject, beyond the schemas."""
    problems: list[str] = []
    by_kind: dict[str, list[Obj]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    if by_kind.get("Secret"):
        problems += [
            f"Secret/{s['metadata']['name']}: secrets must not come from the repository"
            for s in by_kind["Secret"]
        ]
    problems += [
        f"{o['kind']}/{o['metadata']['name']}: no namespace"
        for o in objects
        if o["kind"] not in CLUSTER_SCOPED and not o["metadata"].get("namespace")
    ]
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    for workload in workloads:
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        pod = _pod_spec(workload)
        pod_security = pod.get("securityContext", {})
        for field, init in (("initContainers", True), ("containers", False)):
            for container in pod.get(field, []):
                problems += [
                    f"{name} container {container['name']}: {p}"
                    for p in _container_problems(container, pod_security, init)
                ]
    for deployment in by_kind.get("Deployment", []) + by_kind.get("Rollout", []):
        name = f"{deployment['kind']}/{deployment['metadata']['name']}"
        labels = deployment["spec"]["template"]["metadata"].get("labels", {})
        if not any(
            _selects(pdb["spec"]["selector"], labels) for pdb in by_kind.get("PodDisruptionBudget", [])
        ):
            problems.append(f"{name}: no PodDisruptionBudget selects its pods")
    scalable = {
        (o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in objects
        if (o["apiVersion"], o["kind"]) in SCALABLE
        # KEDA cannot scale a Rollout that points at a Deployment (kedacore/keda issue 4344).
        and "workloadRef" not in o["spec"]
    }
    targets: dict[tuple[str | None, str], str] = {}
    for scaled in by_kind.get("ScaledObject", []):
        ref = scaled["spec"]["scaleTargetRef"]
        key = (scaled["metadata"].get("namespace"), ref["name"])
        sname = f"ScaledObject/{scaled['metadata']['name']}"
        target = (ref.get("apiVersion", "apps/v1"), ref.get("kind", "Deployment"), *key)
        if target not in scalable:
            problems.append(
                f"{sname}: targets {target[0]} {target[1]}/{ref['name']}, which is not a Deployment "
                "or a Rollout (without workloadRef) in the rendered manifests"
            )
        if key in targets:
            problems.append(f"{sname}: {targets[key]} already scales {ref['name']} (two HPAs would fight)")
        targets[key] = sname
    for service in by_kind.get("Service", []):
        selector = service["spec"].get("selector")
        if selector and not any(_selects(selector, _pod_spec_labels(w)) for w in workloads):
            problems.append(f"Service/{service['metadata']['name']}: its selector matches no pod template")
    return problems


def _pod_spec_labels(workload: Obj) -> Obj:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["metadata"].get("labels", {}))


def all_problems(objects: list[Obj]) -> list[str]:
    version = cluster_version()
    problems = [p for obj in objects for p in schema_problems(obj, version)]
    return problems + review_problems(objects)


def _report(problems: list[str]) -> str:
    return "\n".join(["manifest problems:", *problems])


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    """Each overlay as rendered by kubectl kustomize."""
    return {name: render(K8S / "overlays" / name) for name in OVERLAYS}


def _one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def _containers(objects: list[Obj]) -> list[Obj]:
    return [c for o in objects if o["kind"] in WORKLOAD_KINDS for c in _pod_spec(o)["containers"]]


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    """A scratch copy of deploy/ to break on purpose."""
    target = tmp_path / "deploy"
    shutil.copytree(DEPLOY, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} should occur once in {path}"
    path.write_text(text.replace(old, new))


# ---------------------------------------------------------------- the real manifests


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


# ---------------------------------------------------------------- broken copies must fail


def _problems_of_copy(deploy: Path, overlay: str = "eks") -> list[str]:
    return all_problems(render(deploy / "k8s" / "overlays" / overlay))


def test_typo_in_a_core_field_fails(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "deployment.yaml", "readinessProbe:", "readinesProbe:")
    problems = _problems_of_copy(deploy_copy)
    assert any("Deployment/sentiment-api" in p and "readinesProbe" in p for p in problems), problems
    assert any("no readinessProbe" in p for p in problems), problems


@pytest.mark.parametrize(
    ("overlay", "old", "new", "problem"),
    [
        (
            "local",
            '            limits:\n              cpu: "1"\n              memory: 448Mi\n',
            "",
            "Deployment/sentiment-api container api: no limits.memory",
        ),
        (
            "eks",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "Deployment/sentiment-api container api: readOnlyRootFilesystem is not true",
        ),
    ],
    ids=["no-limits", "writable-root"],
)
def test_a_weakened_deployment_fails(
    deploy_copy: Path, overlay: str, old: str, new: str, problem: str
) -> None:
    _edit(deploy_copy / "k8s" / "base" / "deployment.yaml", old, new)
    problems = _problems_of_copy(deploy_copy, overlay)
    assert problem in problems, problems


def test_latest_tag_fails(deploy_copy: Path) -> None:
    _edit(
        deploy_copy / "k8s" / "overlays" / "local" / "kustomization.yaml", "newTag: 0.1.0", "newTag: latest"
    )
    problems = _problems_of_copy(deploy_copy, "local")
    assert any("mutable tag 'latest'" in p for p in problems), problems


def test_typo_in_a_crd_field_fails(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "scaledobject.yaml", "minReplicaCount:", "minReplicas:")
    problems = _problems_of_copy(deploy_copy)
    assert any(p.startswith("ScaledObject/sentiment-api: spec:") and "minReplicas" in p for p in problems), (
        problems
    )


def test_unknown_top_level_field_on_a_crd_fails(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "servicemonitor.yaml", "spec:\n", "specs:\n  x: 1\nspec:\n")
    problems = _problems_of_copy(deploy_copy)
    assert any(p.startswith("ServiceMonitor/sentiment-api: <root>:") and "specs" in p for p in problems), (
        problems
    )


def test_scaledobject_on_a_missing_deployment_fails(deploy_copy: Path) -> None:
    _edit(
        deploy_copy / "k8s" / "base" / "scaledobject.yaml",
        "    kind: Deployment\n    name: sentiment-api\n",
        "    kind: Deployment\n    name: sentiment-apl\n",
    )
    problems = _problems_of_copy(deploy_copy)
    assert any("targets apps/v1 Deployment/sentiment-apl" in p for p in problems), problems


def test_second_scaledobject_on_the_same_deployment_fails(rendered: dict[str, list[Obj]]) -> None:
    objects = copy.deepcopy(rendered["eks"])
    duplicate = copy.deepcopy(_one(objects, "ScaledObject", "sentiment-api"))
    duplicate["metadata"]["name"] = "sentiment-api-predictive"
    problems = all_problems([*objects, duplicate])
    assert any("two HPAs would fight" in p for p in problems), problems


def test_missing_pdb_fails(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "kustomization.yaml", "  - pdb.yaml\n", "")
    assert "Deployment/sentiment-api: no PodDisruptionBudget selects its pods" in _problems_of_copy(
        deploy_copy
    )


def test_typo_in_the_eksctl_config_fails() -> None:
    config = yaml.safe_load(CLUSTER_CONFIG.read_text())
    config["managedNodeGroups"][0]["instanceTyp"] = config["managedNodeGroups"][0].pop("instanceType")
    problems = eksctl_problems(config)
    assert any("managedNodeGroups.0" in p and "instanceTyp" in p for p in problems), problems


def test_broken_kustomization_fails_with_kustomize_message(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "kustomization.yaml", "  - pdb.yaml\n", "  - pdb.yml\n")
    with pytest.raises(AssertionError, match=r"kubectl kustomize .* failed:\n.*pdb\.yml"):
        render(deploy_copy / "k8s" / "overlays" / "eks")


def test_deploy_guide_names_only_files_that_exist() -> None:
    guide = (REPO_ROOT / "docs" / "deploy-eks.md").read_text()
    paths = set(re.findall(r"(?<![\w/])((?:deploy|docs|\.github)/[\w./-]*[\w])", guide))
    assert "deploy/eks/cluster.yaml" in paths
    missing = sorted(p for p in paths if not (REPO_ROOT / p).exists())
    assert missing == [], f"docs/deploy-eks.md refers to missing files: {missing}"
