"""The canary component: Argo Rollouts on Istio, checked against the tools' documented semantics.

Rendered with the real ``kubectl kustomize`` on each overlay (istio first, as the component needs),
validated strictly like every manifest (Argo's CRD schemas included), then the checks the schemas
cannot make: every VirtualService, route, DestinationRule and subset the Rollout names exists and
routes to the stable and canary subsets; KEDA scales the Rollout itself (a Rollout with
``workloadRef`` has no usable /scale selector: kedacore/keda issue 4344); the AnalysisTemplate's
arguments are all supplied by the Rollout; every query parses with promtool and names only
documented metrics, and selects the versions by the label the ServiceMonitor keeps.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops.workspace import promql
from tests.conftest import REPO_ROOT
from tests.unit.manifest_checks import _report, all_problems
from tests.unit.manifest_render import K8S, _one, render, write_overlay

pytestmark = pytest.mark.integration  # renders with kubectl kustomize, parses with promtool

Obj = dict[str, Any]
COMPONENTS = [K8S / "components" / "istio", K8S / "components" / "canary"]
HASH_LABEL = "rollouts-pod-template-hash"
_ARG = re.compile(r"\{\{\s*args\.([\w-]+)\s*\}\}")
#: The only successCondition form used (and evaluated by the live analysis test).
CONDITION = re.compile(r"^result\[0\]\s*(<=|>=)\s*(-?[0-9.]+)$")


def render_canary(tmp_path: Path, overlay: str = "eks") -> list[Obj]:
    return render(write_overlay(tmp_path / f"canary-{overlay}", K8S / "overlays" / overlay, COMPONENTS))


def analysis_queries(objects: list[Obj], args: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Each metric of the AnalysisTemplate: name -> (PromQL with ARGS filled in, successCondition)."""
    template = _one(objects, "AnalysisTemplate", "sentiment-canary")
    values = {a["name"]: a["value"] for a in template["spec"]["args"] if "value" in a} | args
    return {
        m["name"]: (
            _ARG.sub(lambda match: values[match.group(1)], m["provider"]["prometheus"]["query"]),
            m["successCondition"],
        )
        for m in template["spec"]["metrics"]
    }


def passes(condition: str, value: float) -> bool:
    """Evaluate a ``result[0] <= N`` / ``>= N`` successCondition as Argo does (NaN fails both)."""
    match = CONDITION.match(condition.strip())
    assert match, f"unsupported successCondition {condition!r}"
    op, bound = match.group(1), float(match.group(2))
    return value <= bound if op == "<=" else value >= bound


def canary_problems(objects: list[Obj]) -> list[str]:
    """What Argo Rollouts, Istio and KEDA would reject or silently ignore in the rendered canary."""
    problems: list[str] = []
    rollout = _one(objects, "Rollout", "sentiment-api")
    canary = rollout["spec"]["strategy"]["canary"]
    istio = canary["trafficRouting"]["istio"]
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "VirtualService"}
    rules = {o["metadata"]["name"]: o for o in objects if o["kind"] == "DestinationRule"}
    rule_ref = istio["destinationRule"]
    rule = rules.get(rule_ref["name"])
    if rule is None:
        return [f"DestinationRule/{rule_ref['name']} named by the Rollout does not exist"]
    subsets = {s["name"] for s in rule["spec"].get("subsets", [])}
    wanted = {rule_ref["stableSubsetName"], rule_ref["canarySubsetName"]}
    problems += [f"DestinationRule/{rule_ref['name']} has no subset {s!r}" for s in sorted(wanted - subsets)]
    for ref in istio["virtualServices"]:
        service = services.get(ref["name"])
        if service is None:
            problems.append(f"VirtualService/{ref['name']} named by the Rollout does not exist")
            continue
        routes = {r.get("name"): r for r in service["spec"]["http"]}
        for route_name in ref["routes"]:
            route = routes.get(route_name)
            if route is None:
                problems.append(f"VirtualService/{ref['name']} has no http route {route_name!r}")
                continue
            destinations = route["route"]
            found = {d["destination"].get("subset") for d in destinations}
            hosts = {d["destination"]["host"] for d in destinations}
            if len(destinations) != 2 or found != wanted or hosts != {rule["spec"]["host"]}:
                problems.append(
                    f"VirtualService/{ref['name']} route {route_name}: needs exactly the subsets "
                    f"{sorted(wanted)} of {rule['spec']['host']}, "
                    f"has {sorted(map(str, found))} of {sorted(hosts)}"
                )
    scaled = _one(objects, "ScaledObject", "sentiment-api")["spec"]["scaleTargetRef"]
    if (scaled.get("apiVersion"), scaled.get("kind"), scaled["name"]) != (
        "argoproj.io/v1alpha1",
        "Rollout",
        "sentiment-api",
    ):
        problems.append(f"ScaledObject/sentiment-api targets {scaled}, not the Rollout")
    if "workloadRef" in rollout["spec"]:
        problems.append("Rollout uses workloadRef: KEDA cannot scale it (kedacore/keda issue 4344)")
    if [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "sentiment-api"]:
        problems.append(
            "Deployment/sentiment-api is still rendered beside the Rollout (two owners of the pods)"
        )
    problems += _analysis_problems(objects, canary)
    return problems


def _analysis_problems(objects: list[Obj], canary: Obj) -> list[str]:
    problems: list[str] = []
    templates = {o["metadata"]["name"]: o for o in objects if o["kind"] == "AnalysisTemplate"}
    supplied = {a["name"] for a in canary["analysis"].get("args", [])}
    for ref in canary["analysis"]["templates"]:
        template = templates.get(ref["templateName"])
        if template is None:
            problems.append(f"AnalysisTemplate/{ref['templateName']} named by the Rollout does not exist")
            continue
        declared = {a["name"]: a for a in template["spec"].get("args", [])}
        problems += [
            f"AnalysisTemplate arg {n!r} has no default and the Rollout does not supply it"
            for n, a in declared.items()
            if "value" not in a and "valueFrom" not in a and n not in supplied
        ]
        problems += [
            f"the Rollout supplies arg {n!r} the template does not declare" for n in supplied - set(declared)
        ]
        for metric in template["spec"]["metrics"]:
            text = str(metric)
            problems += [
                f"metric {metric['name']}: uses undeclared arg {n!r}"
                for n in sorted(set(_ARG.findall(text)) - set(declared))
            ]
            if not CONDITION.match(metric.get("successCondition", "").strip()):
                problems.append(f"metric {metric['name']}: successCondition is not 'result[0] <=|>= N'")
    return problems


# ---------------------------------------------------------------- the real component


@pytest.mark.parametrize("overlay", ["local", "eks"])
def test_canary_renders_validates_and_is_consistent(tmp_path: Path, overlay: str) -> None:
    objects = render_canary(tmp_path, overlay)
    assert all_problems(objects) == [], _report(all_problems(objects))
    assert canary_problems(objects) == [], _report(canary_problems(objects))


def test_analysis_queries_parse_and_name_only_documented_metrics(tmp_path: Path) -> None:
    objects = render_canary(tmp_path)
    queries = analysis_queries(objects, {"stable-hash": "aaaa", "canary-hash": "bbbb"})
    assert set(queries) == {"error-ratio", "p99-latency", "positive-share", "live-accuracy"}
    exprs = [(f"AnalysisTemplate metric {name}", q) for name, (q, _) in queries.items()]
    assert promql.promtool_parse_errors(exprs) == []
    known = promql.documented_metrics((REPO_ROOT / "docs" / "metrics.md").read_text())
    assert promql.unknown_metrics(exprs, known) == []
    for name, (query, _) in queries.items():
        # Each check compares the two versions: both hashes appear in every query.
        assert (
            'rollouts_pod_template_hash="aaaa"' in query and 'rollouts_pod_template_hash="bbbb"' in query
        ), name
    monitor = _one(objects, "ServiceMonitor", "sentiment-api")
    assert HASH_LABEL in monitor["spec"]["podTargetLabels"]


def test_rollout_keeps_the_pod_template_and_aborts_on_analysis(tmp_path: Path) -> None:
    objects = render_canary(tmp_path)
    base = _one(render(K8S / "overlays" / "eks"), "Deployment", "sentiment-api")
    rollout = _one(objects, "Rollout", "sentiment-api")
    assert rollout["spec"]["selector"] == base["spec"]["selector"]
    assert rollout["spec"]["template"]["spec"]["containers"] == base["spec"]["template"]["spec"]["containers"]
    spread = rollout["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert all(c["matchLabelKeys"] == [HASH_LABEL] for c in spread)  # Rollout pods have no pod-template-hash
    canary = rollout["spec"]["strategy"]["canary"]
    weights = [s["setWeight"] for s in canary["steps"] if "setWeight" in s]
    assert weights == sorted(weights) and weights[0] <= 10 and weights[-1] < 100
    # Background analysis from the first step: any failed measurement aborts = traffic back to stable.
    assert canary["analysis"]["startingStep"] == 1
    template = _one(objects, "AnalysisTemplate", "sentiment-canary")
    assert all(m["failureLimit"] == 0 for m in template["spec"]["metrics"])
    routes = [
        r for vs in objects if vs["kind"] == "VirtualService" for h in vs["spec"]["http"] for r in h["route"]
    ]
    assert {(r["destination"]["subset"], r["weight"]) for r in routes} == {("stable", 100), ("canary", 0)}


# ---------------------------------------------------------------- the checks reject broken copies


def _broken(objects: list[Obj], kind: str, edit: Any) -> list[Obj]:
    objects = copy.deepcopy(objects)
    for obj in objects:
        if obj["kind"] == kind:
            edit(obj)
    return objects


def test_a_route_name_mismatch_is_caught(tmp_path: Path) -> None:
    objects = render_canary(tmp_path)

    def rename(vs: Obj) -> None:
        vs["spec"]["http"][0]["name"] = "primary"

    problems = canary_problems(_broken(objects, "VirtualService", rename))
    assert "VirtualService/sentiment-api has no http route 'api'" in problems, problems


def test_a_missing_subset_is_caught(tmp_path: Path) -> None:
    objects = render_canary(tmp_path)

    def drop(rule: Obj) -> None:
        rule["spec"]["subsets"] = rule["spec"]["subsets"][:1]

    assert "DestinationRule/sentiment-api has no subset 'canary'" in canary_problems(
        _broken(objects, "DestinationRule", drop)
    )


def test_keda_on_the_old_deployment_or_a_workload_ref_is_caught(tmp_path: Path) -> None:
    objects = render_canary(tmp_path)

    def to_deployment(scaled: Obj) -> None:
        scaled["spec"]["scaleTargetRef"] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "sentiment-api",
        }

    assert any(
        "not the Rollout" in p for p in canary_problems(_broken(objects, "ScaledObject", to_deployment))
    )
    assert any(
        "targets apps/v1 Deployment" in p
        for p in all_problems(_broken(objects, "ScaledObject", to_deployment))
    )

    def workload_ref(rollout: Obj) -> None:
        rollout["spec"]["workloadRef"] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "sentiment-api",
        }

    assert any("issue 4344" in p for p in canary_problems(_broken(objects, "Rollout", workload_ref)))


def test_an_unsupplied_analysis_arg_is_caught(tmp_path: Path) -> None:
    objects = render_canary(tmp_path)

    def drop_arg(rollout: Obj) -> None:
        rollout["spec"]["strategy"]["canary"]["analysis"]["args"].pop()

    problems = canary_problems(_broken(objects, "Rollout", drop_arg))
    assert "AnalysisTemplate arg 'canary-hash' has no default and the Rollout does not supply it" in problems


def test_an_undocumented_metric_in_the_analysis_is_caught(tmp_path: Path) -> None:
    objects = render_canary(tmp_path)
    queries = analysis_queries(objects, {"stable-hash": "a", "canary-hash": "b"})
    query = queries["error-ratio"][0].replace("app_request_count_total", "app_requests_total", 1)
    known = promql.documented_metrics((REPO_ROOT / "docs" / "metrics.md").read_text())
    assert promql.unknown_metrics([("error-ratio", query)], known) != []
