"""Prometheus rules and their promtool unit tests, the PrometheusRule (in sync, valid, rendered by
kustomize) and the local Prometheus configuration."""

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
from sentiment_mlops.workspace.commands import monitoring_app
from sentiment_mlops.workspace.repository import MonitoringPaths


def _alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)


# --- rules -----------------------------------------------------------------------------------


@pytest.mark.integration  # runs promtool
def test_promtool_checks_the_rules(promtool: str, paths: MonitoringPaths) -> None:
    result = _run(promtool, "check", "rules", str(paths.rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.integration  # runs promtool
def test_promtool_unit_tests_pass(promtool: str, paths: MonitoringPaths) -> None:
    files = sorted(paths.rule_tests.glob("*.yml"))
    assert files, "no promtool unit tests found"
    result = _run(promtool, "test", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration  # runs promtool
def test_promtool_unit_tests_can_fail(promtool: str, paths: MonitoringPaths, tmp_path: Path) -> None:
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


def test_every_alert_is_tested_firing_and_silent(paths: MonitoringPaths, groups) -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for path in paths.rule_tests.glob("*.yml"):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in _alerts(groups)}
    assert names - fired == set(), "alerts never shown to fire"
    assert names - silent == set(), "alerts never shown to stay silent"


def test_alerts_carry_severity_annotations_and_a_runbook_section(paths: MonitoringPaths, groups) -> None:
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


def test_scaled_object_queries_what_the_rule_records(paths: MonitoringPaths) -> None:
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


# --- the PrometheusRule and kustomize ---------------------------------------------------------------


def test_prometheus_rule_is_in_sync_with_rules_yml(paths: MonitoringPaths, groups) -> None:
    committed = paths.prometheus_rule.read_text(encoding="utf-8")
    assert committed == mon.render_prometheus_rule(paths.rules), (
        "deploy/monitoring/k8s/prometheusrule.yaml is stale: run `sentiment monitoring render-rule`"
    )
    assert yaml.safe_load(committed)["spec"]["groups"] == groups


def test_prometheus_rule_validates_against_the_crd_schema(paths: MonitoringPaths, shared: Path) -> None:
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
    paths: MonitoringPaths, dashboards
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
    paths: MonitoringPaths, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "rule.yaml"
    result = runner.invoke(monitoring_app, ["render-rule", "--rules", str(paths.rules), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == mon.render_prometheus_rule(paths.rules)
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind

    check = ["render-rule", "--rules", str(paths.rules), "--out", str(out), "--check"]
    assert runner.invoke(monitoring_app, check).exit_code == 0
    out.write_text(out.read_text(encoding="utf-8").replace("for: 5m", "for: 1m", 1), encoding="utf-8")
    stale = runner.invoke(monitoring_app, check)
    assert stale.exit_code == 2
    assert "out of date" in stale.output

    missing = runner.invoke(
        monitoring_app, ["render-rule", "--rules", str(tmp_path / "nope.yml"), "--out", str(out)]
    )
    assert missing.exit_code == 2
    assert "rules file not found" in missing.output


# --- local Prometheus configuration ---------------------------------------------------------------


@pytest.mark.integration  # runs promtool
def test_local_prometheus_config_is_valid(promtool: str, paths: MonitoringPaths) -> None:
    result = _run(promtool, "check", "config", str(paths.prometheus_config))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(paths.prometheus_config.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {"sentiment-api": ["127.0.0.1:8000"], "sentiment-scaler": ["127.0.0.1:9102"]}
    assert config["global"]["scrape_interval"] == "5s"
    assert config["rule_files"] == ["rules.yml"]


@pytest.mark.integration  # runs promtool
def test_prometheus_config_with_other_targets(promtool: str, paths: MonitoringPaths, tmp_path: Path) -> None:
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
