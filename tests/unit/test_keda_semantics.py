"""What KEDA and the HPA do with the rendered ScaledObject, checked against their documentation.

A schema knows that ``spec.triggers[].name`` is a string; it does not know that KEDA's admission
webhook rejects a ScaledObject whose trigger names repeat, that ``fallback`` with the default
``behavior: static`` pins the Deployment to exactly ``fallback.replicas`` while a trigger is
failing (even when another trigger asks for more: kedacore/keda issue 6659), or that the HPA KEDA
creates is named by ``advanced.horizontalPodAutoscalerConfig.name`` (``keda-hpa-<name>`` without
it). These checks run over every overlay with every combination of components, and over the names
that the dashboards and alert rules select on. Each is also run on the defect it was written for,
kept as a parameter, and must reject it.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections import Counter
from pathlib import Path

import pytest

from sentiment_mlops.workspace import monitoring as mon
from sentiment_mlops.workspace import promql
from sentiment_mlops.workspace.repository import monitoring_paths
from tests.unit.manifest_render import (
    COMPONENTS,
    K8S,
    OVERLAYS,
    Obj,
    _one,
    component_order,
    render,
    write_overlay,
)

pytestmark = pytest.mark.integration  # renders with kubectl kustomize

# A component that patches another one's objects comes with it, after it (canary needs istio).
COMBINATIONS = sorted(
    {
        (overlay, tuple(component_order(list(combo))))
        for overlay in OVERLAYS
        for size in range(len(COMPONENTS) + 1)
        for combo in itertools.combinations(COMPONENTS, size)
    }
)
# KEDA's fallback behaviours (the ScaledObject CRD's enum). With more than one trigger only
# currentReplicasIfHigher keeps the other triggers' say: static pins fallback.replicas,
# currentReplicas freezes the count, currentReplicasIfLower can scale down during an outage.
SAFE_MULTI_TRIGGER_FALLBACK = {"currentReplicasIfHigher"}
# Label matchers in PromQL that name Kubernetes objects the manifests must contain.
MATCHER = re.compile(r'(?P<label>\w+)\s*(?P<op>=~|=)\s*"(?P<value>[^"]*)"')
SIMPLE_ALTERNATION = re.compile(r"^[\w-]+(\|[\w-]+)*$")


def _combo_id(param: tuple[str, tuple[str, ...]]) -> str:
    overlay, combo = param
    return "+".join([overlay, *combo]) if combo else overlay


# ---------------------------------------------------------------- the checks


def trigger_name_problems(objects: list[Obj]) -> list[str]:
    """Trigger names that repeat within one ScaledObject (KEDA's webhook rejects those)."""
    problems = []
    for scaled in (o for o in objects if o["kind"] == "ScaledObject"):
        names = Counter(t["name"] for t in scaled["spec"]["triggers"] if t.get("name"))
        problems += [
            f"ScaledObject/{scaled['metadata']['name']}: trigger name {name!r} is used {n} times"
            for name, n in names.items()
            if n > 1
        ]
    return problems


def fallback_problems(objects: list[Obj]) -> list[str]:
    """A fallback that does not do what the manifests promise when one of several triggers fails."""
    problems = []
    for scaled in (o for o in objects if o["kind"] == "ScaledObject"):
        spec, name = scaled["spec"], f"ScaledObject/{scaled['metadata']['name']}"
        fallback = spec.get("fallback")
        if not fallback:
            continue
        triggers = spec["triggers"]
        # KEDA's documentation: fallback works only for AverageValue triggers.
        problems += [
            f"{name}: trigger {t.get('name', t['type'])!r} is not AverageValue, fallback ignores it"
            for t in triggers
            if t.get("metricType", "AverageValue") != "AverageValue"
        ]
        behavior = fallback.get("behavior", "static")
        if len(triggers) > 1 and behavior not in SAFE_MULTI_TRIGGER_FALLBACK:
            problems.append(
                f"{name}: fallback behavior {behavior!r} with {len(triggers)} triggers: while one trigger "
                "fails, the others cannot scale above the fallback (use currentReplicasIfHigher)"
            )
        if not spec.get("minReplicaCount", 0) <= fallback["replicas"] <= spec.get("maxReplicaCount", 100):
            problems.append(f"{name}: fallback.replicas is outside [minReplicaCount, maxReplicaCount]")
    return problems


def hpa_names(objects: list[Obj]) -> set[str]:
    """Names of the HPAs KEDA creates for the rendered ScaledObjects."""
    names = set()
    for scaled in (o for o in objects if o["kind"] == "ScaledObject"):
        config = scaled["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
        names.add(config.get("name") or f"keda-hpa-{scaled['metadata']['name']}")
    return names


def scrape_jobs(objects: list[Obj]) -> set[str]:
    """Prometheus ``job`` labels the ServiceMonitors produce (the value of their jobLabel)."""
    jobs = set()
    services = [o for o in objects if o["kind"] == "Service"]
    for monitor in (o for o in objects if o["kind"] == "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        for service in services:
            labels = service["metadata"].get("labels", {})
            if all(labels.get(k) == v for k, v in selector.items()):
                job_label = monitor["spec"].get("jobLabel")
                jobs.add(
                    labels.get(job_label, service["metadata"]["name"])
                    if job_label
                    else service["metadata"]["name"]
                )
    return jobs


def known_names(objects: list[Obj]) -> dict[str, set[str]]:
    scaled = {o["metadata"]["name"] for o in objects if o["kind"] == "ScaledObject"}
    return {
        "horizontalpodautoscaler": hpa_names(objects),
        "scaledObject": scaled,  # KEDA operator metrics
        "scaledobject": scaled,  # the predictive scaler's own metrics
        "job": scrape_jobs(objects),
    }


def name_problems(exprs: list[tuple[str, str]], known: dict[str, set[str]]) -> list[str]:
    """Label matchers on object names (HPA, ScaledObject, job) that name no rendered object."""
    problems = []
    for where, expr in exprs:
        for match in MATCHER.finditer(expr):
            label, op, value = match["label"], match["op"], match["value"]
            if label not in known:
                continue
            if op == "=~" and not SIMPLE_ALTERNATION.match(value):
                continue
            missing = (
                sorted(set(value.split("|")) - known[label])
                if op == "=~"
                else ([value] if value not in known[label] else [])
            )
            problems += [f"{where}: {label}={name!r} names nothing the manifests create" for name in missing]
    return problems


def monitoring_expressions(repo_root: Path) -> list[tuple[str, str]]:
    paths = monitoring_paths(repo_root)
    exprs = promql.rule_expressions(mon.load_rule_groups(paths.rules))
    for name, dashboard in promql.load_dashboards(paths.dashboards).items():
        exprs += promql.dashboard_expressions(dashboard, name)
    return exprs


# ---------------------------------------------------------------- the real manifests


@pytest.fixture(scope="module")
def all_components(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Obj]]:
    components = [K8S / "components" / c for c in component_order(COMPONENTS)]
    return {
        overlay: render(
            write_overlay(tmp_path_factory.mktemp(overlay), K8S / "overlays" / overlay, components)
        )
        for overlay in OVERLAYS
    }


@pytest.mark.parametrize("combination", COMBINATIONS, ids=_combo_id)
def test_every_combination_is_accepted_by_keda(
    tmp_path: Path, repo_root: Path, combination: tuple[str, tuple[str, ...]]
) -> None:
    overlay, combo = combination
    objects = render(
        write_overlay(tmp_path, K8S / "overlays" / overlay, [K8S / "components" / c for c in combo])
    )
    assert trigger_name_problems(objects) == []
    assert fallback_problems(objects) == []
    # The base's names (HPA, ScaledObject, the API's job) exist in every combination.
    exprs = [(w, e) for w, e in monitoring_expressions(repo_root) if "sentiment-scaler" not in e]
    assert name_problems(exprs, known_names(objects)) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dashboards_and_alerts_name_objects_that_exist(
    all_components: dict[str, list[Obj]], overlay: str, repo_root: Path
) -> None:
    exprs = monitoring_expressions(repo_root)
    known = known_names(all_components[overlay])
    assert {"sentiment-api", "sentiment-scaler"} <= known["job"], known["job"]
    assert name_problems(exprs, known) == []


# ---------------------------------------------------------------- the defects these checks catch


def test_repeated_trigger_names_are_rejected(all_components: dict[str, list[Obj]]) -> None:
    # The defect as it was: both forecasting components added "predicted-request-rate".
    scaled = copy.deepcopy(_one(all_components["eks"], "ScaledObject", "sentiment-api"))
    for trigger in scaled["spec"]["triggers"][1:]:
        trigger["name"] = "predicted-request-rate"
    assert trigger_name_problems([scaled]) == [
        "ScaledObject/sentiment-api: trigger name 'predicted-request-rate' is used 2 times"
    ]


@pytest.mark.parametrize("behavior", [None, "static", "currentReplicas", "currentReplicasIfLower"])
def test_fallback_that_caps_the_other_triggers_is_rejected(
    all_components: dict[str, list[Obj]], behavior: str | None
) -> None:
    # None: the defect as it was (no behavior, so KEDA's default "static").
    scaled = copy.deepcopy(_one(all_components["eks"], "ScaledObject", "sentiment-api"))
    scaled["spec"]["fallback"].pop("behavior", None)
    if behavior:
        scaled["spec"]["fallback"]["behavior"] = behavior
    (problem,) = fallback_problems([scaled])
    assert f"fallback behavior {behavior or 'static'!r} with 3 triggers" in problem


def test_fallback_on_a_value_trigger_is_rejected(all_components: dict[str, list[Obj]]) -> None:
    scaled = copy.deepcopy(_one(all_components["eks"], "ScaledObject", "sentiment-api"))
    scaled["spec"]["triggers"][0]["metricType"] = "Value"
    assert any("is not AverageValue" in p for p in fallback_problems([scaled]))


@pytest.mark.parametrize(
    ("expr", "label", "name"),
    [
        # The defect as it was: the dashboard looked for KEDA's default HPA name, which the
        # ScaledObject overrides with advanced.horizontalPodAutoscalerConfig.name.
        (
            'max(kube_horizontalpodautoscaler_status_desired_replicas{horizontalpodautoscaler="keda-hpa-sentiment-api"})',
            "horizontalpodautoscaler",
            "keda-hpa-sentiment-api",
        ),
        ('max(keda_scaler_metrics_value{scaledObject="sentiment"})', "scaledObject", "sentiment"),
        ('up{job=~"sentiment-api|sentiment-scaler|sentiment-batch"} == 0', "job", "sentiment-batch"),
    ],
)
def test_names_of_missing_objects_are_rejected(
    all_components: dict[str, list[Obj]], expr: str, label: str, name: str
) -> None:
    problems = name_problems([("panel", expr)], known_names(all_components["eks"]))
    assert problems == [f"panel: {label}={name!r} names nothing the manifests create"]


# ---------------------------------------------------------------- KEDA's own metrics

# Operator metrics KEDA 2.14 deprecated and later releases dropped (KEDA's "Integrate with
# Prometheus" page), with what replaced them. keda_scaler_errors_total was, before 2.14, one total
# over all scalers, without a scaledObject label, so a per-ScaledObject panel on it was empty.
KEDA_REPLACED = {
    "keda_scaler_errors_total": "keda_scaler_detail_errors_total",
    "keda_scaler_errors": "keda_scaler_detail_errors_total",
    "keda_scaled_object_errors": "keda_scaled_object_errors_total",
    "keda_scaler_metrics_latency": "keda_scaler_metrics_latency_seconds",
    "keda_resource_totals": "keda_resource_registered_total",
    "keda_trigger_totals": "keda_trigger_registered_total",
}


def replaced_keda_metrics(exprs: list[tuple[str, str]]) -> list[str]:
    return [
        f"{where}: {name} is gone from KEDA >= 2.14, use {KEDA_REPLACED[name]}"
        for where, expr in exprs
        for name in sorted(promql.metric_names(expr) & KEDA_REPLACED.keys())
    ]


def test_dashboards_and_alerts_use_current_keda_metrics(repo_root: Path) -> None:
    assert replaced_keda_metrics(monitoring_expressions(repo_root)) == []


def test_a_replaced_keda_metric_is_rejected() -> None:
    # The defect as it was, in the autoscaling dashboard's "KEDA scaler activity and errors" panel.
    old = 'sum by (scaler) (rate(keda_scaler_errors_total{scaledObject="sentiment-api"}[5m]))'
    assert replaced_keda_metrics([("panel", old)]) == [
        "panel: keda_scaler_errors_total is gone from KEDA >= 2.14, use keda_scaler_detail_errors_total"
    ]
