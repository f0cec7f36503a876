"""The checks on rendered manifests: strict schemas and what a reviewer would reject.

Core kinds are validated with kubernetes-validate at the cluster's Kubernetes version (read from
deploy/eks/cluster.yaml), CRD kinds (KEDA, Prometheus Operator, Istio, Argo Rollouts, spark-operator)
against the CRD schemas in the shared material, the eksctl ClusterConfig against eksctl's schema.
On top of the schemas come the checks a reviewer makes (pinned images, probes, requests and limits,
hardened security context, PDB, autoscaler target, service selectors).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from tests.conftest import shared_dir
from tests.unit.manifest_render import CLUSTER_CONFIG, Obj

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


def _containers(objects: list[Obj]) -> list[Obj]:
    return [c for o in objects if o["kind"] in WORKLOAD_KINDS for c in _pod_spec(o)["containers"]]
