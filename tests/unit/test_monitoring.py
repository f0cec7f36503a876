"""Prometheus rules, their promtool unit tests, the PrometheusRule, the dashboards and their PromQL.

Expressions are parsed by Prometheus's own parser (promtool, from Debian's `prometheus` package);
metric names are checked against the contract in docs/metrics.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from sentiment_mlops.workspace import monitoring as mon


@pytest.fixture(scope="module")
def paths(repo_root: Path) -> mon.MonitoringPaths:
    return mon.monitoring_paths(repo_root)


@pytest.fixture(scope="module")
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not found: apt-get install -y prometheus")
    return binary


@pytest.fixture(scope="module")
def groups(paths: mon.MonitoringPaths) -> list[dict[str, Any]]:
    return mon.load_rule_groups(paths.rules)


@pytest.fixture(scope="module")
def dashboards(paths: mon.MonitoringPaths) -> dict[str, dict[str, Any]]:
    return mon.load_dashboards(paths.dashboards)


def _alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)


# --- rules -----------------------------------------------------------------------------------


@pytest.mark.integration  # runs promtool
def test_promtool_checks_the_rules(promtool: str, paths: mon.MonitoringPaths) -> None:
    result = _run(promtool, "check", "rules", str(paths.rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.integration  # runs promtool
def test_promtool_unit_tests_pass(promtool: str, paths: mon.MonitoringPaths) -> None:
    files = sorted(paths.rule_tests.glob("*.yml"))
    assert files, "no promtool unit tests found"
    result = _run(promtool, "test", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration  # runs promtool
def test_promtool_unit_tests_can_fail(promtool: str, paths: mon.MonitoringPaths, tmp_path: Path) -> None:
    """A wrong expectation makes `promtool test rules` fail, so the passing run above means something."""
    source = (paths.rule_tests / "requests_test.yml").read_text(encoding="utf-8")
    assert "value: 0.03125" in source
    broken = tmp_path / "broken_test.yml"
    broken.write_text(
        source.replace("value: 0.03125", "value: 0.5").replace("../rules.yml", str(paths.rules)),
        encoding="utf-8",
    )
    result = _run(promtool, "test", "rules", str(broken))
    assert result.returncode != 0
    assert "0.03125" in result.stdout + result.stderr or "3.125E-02" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent(paths: mon.MonitoringPaths, groups) -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for path in paths.rule_tests.glob("*.yml"):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in _alerts(groups)}
    assert names - fired == set(), "alerts never shown to fire"
    assert names - silent == set(), "alerts never shown to stay silent"


def test_alerts_carry_severity_annotations_and_a_runbook_section(paths: mon.MonitoringPaths, groups) -> None:
    runbook = (paths.root / "docs" / "runbook.md").read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("#")
    }
    alerts = _alerts(groups)
    assert len(alerts) >= 9
    for rule in alerts:
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule.get("for"), f"{name} has no 'for'"
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        url = annotations["runbook_url"]
        assert url.startswith("docs/runbook.md#"), url
        assert url.split("#", 1)[1] in anchors, f"{name}: no section for {url} in docs/runbook.md"


def test_keda_trigger_query_is_recorded_verbatim(groups) -> None:
    records = {
        rule["record"]: rule["expr"] for group in groups for rule in group["rules"] if "record" in rule
    }
    assert records[mon.KEDA_TRIGGER_RECORD] == mon.KEDA_TRIGGER_QUERY


def test_scaled_object_queries_what_the_rule_records(paths: mon.MonitoringPaths) -> None:
    """The ScaledObject's Prometheus trigger and the recorded KEDA query must not drift apart."""
    queries = [
        trigger["metadata"]["query"]
        for path in sorted((paths.root / "deploy" / "k8s" / "base").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc and doc.get("kind") == "ScaledObject"
        for trigger in doc["spec"]["triggers"]
        if trigger["type"] == "prometheus"
    ]
    assert queries == [mon.KEDA_TRIGGER_QUERY]


def test_rule_names_are_unique(groups) -> None:
    names = [rule.get("record") or rule.get("alert") for group in groups for rule in group["rules"]]
    records = [rule["record"] for group in groups for rule in group["rules"] if "record" in rule]
    assert len(records) == len(set(records))
    assert len({group["name"] for group in groups}) == len(groups)
    assert names


# --- PromQL: parse and metric contract -----------------------------------------------------------


@pytest.mark.integration  # runs promtool
def test_every_expression_parses_with_promtool(promtool: str, groups, dashboards) -> None:
    exprs = mon.rule_expressions(groups)
    for name, dashboard in dashboards.items():
        exprs += mon.dashboard_expressions(dashboard, name)
    assert len(exprs) > 80
    assert mon.promtool_parse_errors(exprs, promtool) == []


def test_every_metric_is_documented_or_recorded(paths: mon.MonitoringPaths, groups, dashboards) -> None:
    exprs = mon.rule_expressions(groups)
    for name, dashboard in dashboards.items():
        exprs += mon.dashboard_expressions(dashboard, name)
    known = mon.documented_metrics(paths.metrics_doc.read_text(encoding="utf-8"))
    known |= {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    assert mon.unknown_metrics(exprs, known) == []
    # and the check is not vacuous: the expressions name the app, scaler and third-party metrics
    named = set().union(*(mon.metric_names(expr) for _, expr in exprs))
    for metric in (
        "app_request_count_total",
        "app_request_latency_seconds_bucket",
        "model_positive_probability_bucket",
        "model_unseen_ngrams_total",
        "model_info",
        "predictive_scaler_forecast_rps",
        "kube_horizontalpodautoscaler_status_desired_replicas",
        "keda_scaler_metrics_value",
        "istio_requests_total",
        "istio_request_duration_milliseconds_bucket",
        "up",
    ):
        assert metric in named, metric


@pytest.mark.integration  # runs promtool
def test_lint_command_passes_on_the_project(paths: mon.MonitoringPaths, promtool: str) -> None:
    assert mon.lint(paths, promtool) == []


@pytest.mark.integration  # runs promtool
def test_a_broken_expression_is_rejected_and_named(promtool: str) -> None:
    exprs = [
        ("good", 'sum(rate(app_request_count_total{job="sentiment-api"}[5m]))'),
        ("unclosed", 'sum(rate(app_request_count_total{job="sentiment-api"}[5m])'),
        ("bad duration", "rate(app_request_count_total[5 minutes])"),
    ]
    problems = mon.promtool_parse_errors(exprs, promtool)
    assert len(problems) == 2
    assert problems[0].startswith("unclosed: ") and "parse error" in problems[0]
    assert problems[1].startswith("bad duration: ")


def test_an_undocumented_metric_is_flagged() -> None:
    known = {"app_request_count_total", "app_request_latency_seconds", "up"}
    exprs = [
        ("ok", "histogram_quantile(0.99, sum by (le) (rate(app_request_latency_seconds_bucket[5m])))"),
        ("typo", "sum(rate(app_requests_count_total[5m])) / on (job) group_left up"),
    ]
    assert mon.unknown_metrics(exprs, known) == [
        "typo: metric 'app_requests_count_total' is not in docs/metrics.md nor a recording rule"
    ]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (job, le) (rate(a_bucket{job="x",le=~"0.1|1e3"}[5m] offset 1h))', {"a_bucket"}),
        ("a + on (job) group_left (version) b{x='y(z)'} * 1e3 > bool 0x1F", {"a", "b"}),
        (
            "abs(ns:rec:ratio - on (namespace, job) base:max) > 0.15 and on (job) c * 3600 >= 200",
            {"ns:rec:ratio", "base:max", "c"},
        ),
        ("max_over_time(up[1h:5m]) unless absent(up) or vector(1)", {"up"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)") without (instance)', {"m"}),
        ("sum(x) without (instance) / count(y) by (job)", {"x", "y"}),
        ("-Inf < NaN", set()),
    ],
)
def test_metric_names_are_extracted(expr: str, names: set[str]) -> None:
    assert mon.metric_names(expr) == names


def test_grafana_variables_are_substituted() -> None:
    expr = 'sum(rate(m{namespace=~"$namespace",pod=~"${pod:regex}"}[$__rate_interval])) + n[${__interval}]'
    assert mon.substitute_grafana_variables(expr) == (
        'sum(rate(m{namespace=~"placeholder",pod=~"placeholder"}[5m])) + n[5m]'
    )


def test_documented_metrics_parse_the_contract(paths: mon.MonitoringPaths) -> None:
    known = mon.documented_metrics(paths.metrics_doc.read_text(encoding="utf-8"))
    for metric in (
        "app_request_count_total",
        "model_baseline_positive_share",
        "predictive_scaler_fallback_total",
        "kube_deployment_spec_replicas",
        "keda_scaler_errors_total",
        "istio_request_duration_milliseconds",
        "up",
    ):
        assert metric in known, metric
    assert not {"method", "endpoint", "_bucket", "metric", "source"} & known


# --- the PrometheusRule and kustomize ---------------------------------------------------------------


def test_prometheus_rule_is_in_sync_with_rules_yml(paths: mon.MonitoringPaths, groups) -> None:
    committed = paths.prometheus_rule.read_text(encoding="utf-8")
    assert committed == mon.render_prometheus_rule(paths.rules), (
        "deploy/monitoring/k8s/prometheusrule.yaml is stale: run `sentiment monitoring render-rule`"
    )
    assert yaml.safe_load(committed)["spec"]["groups"] == groups


def test_prometheus_rule_validates_against_the_crd_schema(paths: mon.MonitoringPaths, shared: Path) -> None:
    schema = json.loads(
        (shared / "schemas" / "crds" / "monitoring.coreos.com" / "prometheusrule_v1.json").read_text()
    )
    manifest = yaml.safe_load(paths.prometheus_rule.read_text(encoding="utf-8"))
    # The CRD schema holds Go regular expressions (`^(?i)...`) that Python's `re` rejects, so the
    # schema itself is not meta-validated; the patterns only apply to fields this rule leaves unset.
    validator = jsonschema.validators.validator_for(schema)(schema)
    validator.validate(manifest)
    assert manifest["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert "namespace" not in manifest["metadata"]
    # and the schema does reject a malformed rule
    broken = json.loads(json.dumps(manifest))
    broken["spec"]["groups"][0]["rules"][0]["expr"] = {"not": "an expression"}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


@pytest.mark.integration  # runs kubectl kustomize
def test_kustomize_renders_the_rule_and_one_configmap_per_dashboard(
    paths: mon.MonitoringPaths, dashboards
) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl not found (it bundles kustomize)")
    result = _run(kubectl, "kustomize", str(paths.monitoring))
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in docs)
    assert kinds == sorted(
        [("PrometheusRule", "sentiment-api")]
        + [
            ("ConfigMap", f"sentiment-dashboard-{Path(name).stem.removeprefix('sentiment-')}")
            for name in dashboards
        ]
    )
    for doc in docs:
        assert "namespace" not in doc["metadata"]
        if doc["kind"] == "ConfigMap":
            assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"
            ((filename, content),) = doc["data"].items()
            assert json.loads(content) == dashboards[filename]


def test_render_rule_command_writes_checks_and_reports_problems(
    paths: mon.MonitoringPaths, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "rule.yaml"
    result = runner.invoke(mon.app, ["render-rule", "--rules", str(paths.rules), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == mon.render_prometheus_rule(paths.rules)
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind

    check = ["render-rule", "--rules", str(paths.rules), "--out", str(out), "--check"]
    assert runner.invoke(mon.app, check).exit_code == 0
    out.write_text(out.read_text(encoding="utf-8").replace("for: 5m", "for: 1m", 1), encoding="utf-8")
    stale = runner.invoke(mon.app, check)
    assert stale.exit_code == 2
    assert "out of date" in stale.output

    missing = runner.invoke(
        mon.app, ["render-rule", "--rules", str(tmp_path / "nope.yml"), "--out", str(out)]
    )
    assert missing.exit_code == 2
    assert "rules file not found" in missing.output


# --- dashboards ---------------------------------------------------------------------------------


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in panels:
        found.append(panel)
        found += _panels(panel.get("panels", []))
    return found


def test_dashboards_are_well_formed(dashboards) -> None:
    assert set(dashboards) == {
        "sentiment-service.json",
        "sentiment-model.json",
        "sentiment-autoscaling.json",
        "sentiment-istio.json",
    }
    uids = [dashboard["uid"] for dashboard in dashboards.values()]
    assert len(set(uids)) == len(uids) and all(uids)
    for name, dashboard in dashboards.items():
        assert dashboard["schemaVersion"] >= 39, name
        assert dashboard["title"], name
        variables = {var["name"]: var for var in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        panels = _panels(dashboard["panels"])
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        assert sum(1 for panel in panels if panel["type"] != "row") >= 5, name


def test_dashboards_use_only_the_datasource_variable(dashboards) -> None:
    def datasources(node: Any) -> list[Any]:
        if isinstance(node, dict):
            found = [node["datasource"]] if "datasource" in node else []
            return found + [d for value in node.values() for d in datasources(value)]
        if isinstance(node, list):
            return [d for item in node for d in datasources(item)]
        return []

    for name, dashboard in dashboards.items():
        for ds in datasources(dashboard["panels"]) + datasources(dashboard["templating"]):
            assert ds == {"type": "prometheus", "uid": "${datasource}"}, f"{name}: {ds}"


def test_dashboards_show_what_operators_need(dashboards) -> None:
    text = {name: json.dumps(d) for name, d in dashboards.items()}
    assert "p99_rate5m" in text["sentiment-service.json"]
    assert '"heatmap"' in text["sentiment-model.json"] and "model_info" in text["sentiment-model.json"]
    assert "model_baseline_positive_share" in text["sentiment-model.json"]
    for metric in ("kube_horizontalpodautoscaler_status_desired_replicas", "keda_scaler_metrics_value"):
        assert metric in text["sentiment-autoscaling.json"]
    assert "predictive_scaler_forecast_rps" in text["sentiment-autoscaling.json"]
    assert "istio_request_duration_milliseconds_bucket" in text["sentiment-istio.json"]


# --- local Prometheus configuration ---------------------------------------------------------------


@pytest.mark.integration  # runs promtool
def test_local_prometheus_config_is_valid(promtool: str, paths: mon.MonitoringPaths) -> None:
    result = _run(promtool, "check", "config", str(paths.prometheus_config))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(paths.prometheus_config.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {"sentiment-api": ["127.0.0.1:8000"], "sentiment-scaler": ["127.0.0.1:9102"]}
    assert config["global"]["scrape_interval"] == "5s"
    assert config["rule_files"] == ["rules.yml"]


@pytest.mark.integration  # runs promtool
def test_prometheus_config_with_other_targets(
    promtool: str, paths: mon.MonitoringPaths, tmp_path: Path
) -> None:
    text = mon.prometheus_config(paths.prometheus_config, paths.rules, "127.0.0.1:18000", "127.0.0.1:19102")
    out = tmp_path / "prometheus.yml"
    out.write_text(text, encoding="utf-8")
    result = _run(promtool, "check", "config", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(text)
    assert config["rule_files"] == [str(paths.rules.resolve())]
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {"sentiment-api": ["127.0.0.1:18000"], "sentiment-scaler": ["127.0.0.1:19102"]}
    with pytest.raises(mon.MonitoringError, match="not HOST:PORT"):
        mon.prometheus_config(paths.prometheus_config, paths.rules, "http://x:1/metrics")
