"""Prometheus rules and Grafana dashboards: render the PrometheusRule and configure a local
Prometheus (the PromQL lint is in :mod:`.promql`, the ``sentiment monitoring`` commands in
:mod:`.commands`; the repository's files are found by :mod:`.repository`).

``deploy/monitoring/prometheus/rules.yml`` is the single source of the rules. Plain Prometheus loads
it as is; kube-prometheus-stack gets the same groups wrapped in a PrometheusRule that
``sentiment monitoring render-rule`` writes to ``deploy/monitoring/k8s/prometheusrule.yaml``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

#: The reactive KEDA trigger (scoring work in single-review equivalents/s, the costs from
#: params.yaml: autoscaling.config.scoring_work_query), recorded as :data:`KEDA_TRIGGER_RECORD`.
KEDA_TRIGGER_QUERY = (
    'sum(rate(app_request_count_total{job="sentiment-api",'
    'endpoint=~"/v1/predict|/predict|/v2/models/.+/infer"}[1m])) * 0.836'
    ' + sum(rate(model_prediction_count_total{job="sentiment-api"}[1m])) * 0.164'
)
KEDA_TRIGGER_RECORD = "sentiment:scoring_work:rate1m"

#: Labels kube-prometheus-stack's Prometheus selects PrometheusRules by (its default ruleSelector).
RULE_LABELS = {
    "release": "kube-prometheus-stack",
    "app.kubernetes.io/name": "sentiment-api",
    "app.kubernetes.io/part-of": "sentiment-mlops",
    "app.kubernetes.io/component": "monitoring",
}
RULE_NAME = "sentiment-api"

_GENERATED_HEADER = (
    "# Generated from deploy/monitoring/prometheus/rules.yml by `sentiment monitoring render-rule`.\n"
    "# Do not edit: change rules.yml and render again (a test fails while the two differ).\n"
)


class MonitoringError(ValueError):
    """A rules file, dashboard or metrics reference is missing or malformed."""


# --- rules and the PrometheusRule ----------------------------------------------------------


def load_rule_groups(path: Path) -> list[dict[str, Any]]:
    """The ``groups`` of a Prometheus rules file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MonitoringError(f"rules file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise MonitoringError(f"{path} is not valid YAML: {exc}") from exc
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not groups:
        raise MonitoringError(f"{path} has no 'groups' list")
    return groups


def prometheus_rule(groups: list[dict[str, Any]], name: str = RULE_NAME) -> dict[str, Any]:
    """A ``monitoring.coreos.com/v1`` PrometheusRule holding exactly ``groups`` (no namespace)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": dict(RULE_LABELS)},
        "spec": {"groups": groups},
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, so the generated expressions read like rules.yml."""


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_presenter)


def render_prometheus_rule(rules_path: Path) -> str:
    """The PrometheusRule manifest for ``rules_path``, as YAML text."""
    body = yaml.dump(
        prometheus_rule(load_rule_groups(rules_path)),
        Dumper=_BlockDumper,
        sort_keys=False,
        width=1000,
        allow_unicode=True,
    )
    return _GENERATED_HEADER + body


def prometheus_config(
    base: Path, rules: Path, api_target: str | None = None, scaler_target: str | None = None
) -> str:
    """``base`` (prometheus.yml) with an absolute rules path and, if given, other scrape targets."""
    config = yaml.safe_load(base.read_text(encoding="utf-8"))
    config["rule_files"] = [str(rules.resolve())]
    targets = {"sentiment-api": api_target, "sentiment-scaler": scaler_target}
    for job in config.get("scrape_configs", []):
        target = targets.get(job.get("job_name"))
        if target:
            if not re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", target):
                raise MonitoringError(f"scrape target {target!r} is not HOST:PORT")
            job["static_configs"] = [{"targets": [target]}]
    return yaml.safe_dump(config, sort_keys=False)
