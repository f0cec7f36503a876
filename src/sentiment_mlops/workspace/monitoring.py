"""Prometheus rules and Grafana dashboards: render the PrometheusRule, configure a local
Prometheus, and the ``sentiment monitoring`` commands (the PromQL lint is in :mod:`.promql`; the
repository's files are found by :mod:`.repository`).

``deploy/monitoring/prometheus/rules.yml`` is the single source of the rules. Plain Prometheus loads
it as is; kube-prometheus-stack gets the same groups wrapped in a PrometheusRule that
``sentiment monitoring render-rule`` writes to ``deploy/monitoring/k8s/prometheusrule.yaml``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from sentiment_mlops.files import atomic_write_text
from sentiment_mlops.workspace.repository import RepositoryError, monitoring_paths

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


# --- CLI -----------------------------------------------------------------------------------

app = typer.Typer(help="Prometheus rules and Grafana dashboards.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command("render-rule")
def render_rule_command(
    rules: Annotated[Path | None, typer.Option(help="Rules file (default: the project's).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="PrometheusRule to write (default: the project's).")
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Only verify that OUT is up to date.")] = False,
) -> None:
    """Wrap rules.yml into the PrometheusRule that kube-prometheus-stack loads."""
    try:
        if rules is None or out is None:
            paths = monitoring_paths()
            rules, out = rules or paths.rules, out or paths.prometheus_rule
        text = render_prometheus_rule(rules)
    except (MonitoringError, RepositoryError) as exc:
        raise _fail(str(exc)) from exc
    if check:
        current = out.read_text(encoding="utf-8") if out.is_file() else ""
        if current != text:
            raise _fail(f"{out} is out of date with {rules}: run `sentiment monitoring render-rule`")
        typer.echo(f"{out} is up to date")
        return
    atomic_write_text(out, text)
    typer.echo(f"wrote {out}")


@app.command("prometheus-config")
def prometheus_config_command(
    out: Annotated[Path, typer.Option(help="Where to write the configuration.")],
    api: Annotated[str | None, typer.Option(help="API target HOST:PORT.")] = None,
    scaler: Annotated[str | None, typer.Option(help="Scaler target HOST:PORT.")] = None,
) -> None:
    """Write the local Prometheus configuration with other targets and an absolute rules path."""
    try:
        paths = monitoring_paths()
        text = prometheus_config(paths.prometheus_config, paths.rules, api, scaler)
    except (MonitoringError, RepositoryError) as exc:
        raise _fail(str(exc)) from exc
    atomic_write_text(out, text)
    typer.echo(f"wrote {out}")


@app.command("lint")
def lint_command(
    promtool: Annotated[str, typer.Option(help="promtool binary.")] = "promtool",
) -> None:
    """Parse every PromQL expression of the rules and dashboards; flag metrics not in docs/metrics.md."""
    from sentiment_mlops.workspace.promql import lint

    try:
        problems = lint(monitoring_paths(), promtool)
    except (MonitoringError, RepositoryError) as exc:
        raise _fail(str(exc)) from exc
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise _fail(f"{len(problems)} problem(s) in rules and dashboards")
    typer.echo("rules and dashboards: every expression parses and names only documented metrics")
