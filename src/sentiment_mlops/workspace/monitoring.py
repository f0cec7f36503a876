"""Prometheus rules and Grafana dashboards: render the PrometheusRule, configure a local
Prometheus, and lint every PromQL expression against the metric contract (docs/metrics.md).

``deploy/monitoring/prometheus/rules.yml`` is the single source of the rules. Plain Prometheus loads
it as is; kube-prometheus-stack gets the same groups wrapped in a PrometheusRule that
``sentiment monitoring render-rule`` writes to ``deploy/monitoring/k8s/prometheusrule.yaml``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from sentiment_mlops.config import find_project_root
from sentiment_mlops.files import atomic_write_text

log = logging.getLogger(__name__)

#: The reactive KEDA trigger, also recorded as :data:`KEDA_TRIGGER_RECORD` by rules.yml.
KEDA_TRIGGER_QUERY = (
    'sum(rate(app_request_count_total{job="sentiment-api",'
    'endpoint=~"/v1/predict|/predict|/v2/models/.+/infer"}[1m]))'
)
KEDA_TRIGGER_RECORD = "sentiment:app_predict_requests:rate1m"

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


@dataclass(frozen=True)
class MonitoringPaths:
    """Where the monitoring sources live, from one project root."""

    root: Path

    @property
    def monitoring(self) -> Path:
        return self.root / "deploy" / "monitoring"

    @property
    def rules(self) -> Path:
        return self.monitoring / "prometheus" / "rules.yml"

    @property
    def rule_tests(self) -> Path:
        return self.monitoring / "prometheus" / "tests"

    @property
    def prometheus_config(self) -> Path:
        return self.monitoring / "prometheus" / "prometheus.yml"

    @property
    def prometheus_rule(self) -> Path:
        return self.monitoring / "k8s" / "prometheusrule.yaml"

    @property
    def dashboards(self) -> Path:
        return self.monitoring / "dashboards"

    @property
    def metrics_doc(self) -> Path:
        return self.root / "docs" / "metrics.md"


def monitoring_paths(root: Path | None = None) -> MonitoringPaths:
    return MonitoringPaths((root or find_project_root()).resolve())


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


# --- PromQL linting ------------------------------------------------------------------------

# Grafana's interval variables stand where PromQL wants a duration; other variables stand
# inside label matcher strings, where any text parses.
_GRAFANA_DURATION = re.compile(
    r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}"
)
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]+\}|\$[A-Za-z_]\w*")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<expr>.*),\s*[A-Za-z_]\w*\s*\)\s*$", re.DOTALL)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+|@\s*(?:start\(\)|end\(\)|[0-9.]+)")
_TOKEN = re.compile(
    r"(?P<num>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?P<call>\s*\()?"
)
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "inf", "nan", "Inf", "NaN"}
)
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def substitute_grafana_variables(expr: str) -> str:
    """Replace Grafana template variables so the expression is plain PromQL."""
    expr = _GRAFANA_DURATION.sub("5m", expr)
    return _GRAFANA_VARIABLE.sub("placeholder", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords or labels."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    text = _OFFSET.sub("", text)
    names: set[str] = set()
    for match in _TOKEN.finditer(text):
        name = match.group("name")
        if name and not match.group("call") and name not in _KEYWORDS:
            names.add(name)
    return names


def rule_expressions(groups: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(where, expr)`` for every rule in ``groups``."""
    found = []
    for group in groups:
        for rule in group.get("rules", []):
            name = rule.get("record") or rule.get("alert")
            found.append((f"rules.yml {group.get('name')}/{name}", str(rule["expr"])))
    return found


def dashboard_expressions(dashboard: dict[str, Any], label: str = "dashboard") -> list[tuple[str, str]]:
    """``(where, expr)`` for every panel target and query variable, Grafana variables substituted."""
    found = []

    def walk(panels: Iterable[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    where = f"{label} panel {panel.get('id')} {panel.get('title')!r} {target.get('refId')}"
                    found.append((where, substitute_grafana_variables(target["expr"])))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else str(query or "")
        inner = _LABEL_VALUES.match(query)
        found.append((f"{label} variable ${variable.get('name')}", inner.group("expr") if inner else query))
    return found


def load_dashboards(folder: Path) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` dashboard in ``folder``, by file name."""
    dashboards = {}
    for path in sorted(folder.glob("*.json")):
        try:
            dashboards[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise MonitoringError(f"{path} is not valid JSON: {exc}") from exc
    return dashboards


def documented_metrics(markdown: str) -> set[str]:
    """Metric names in the first column of the tables of docs/metrics.md."""
    names: set[str] = set()
    for line in markdown.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*-", line):
            first = line.strip("|").split("|")[0]
            names.update(
                n for n in re.findall(r"`([A-Za-z_:][A-Za-z0-9_:]*)`", first) if not n.startswith("_")
            )
    return names


def unknown_metrics(exprs: list[tuple[str, str]], known: set[str]) -> list[str]:
    """One message per metric name that is neither documented nor recorded."""
    problems = []
    for where, expr in exprs:
        for name in sorted(metric_names(expr)):
            base = next((name[: -len(s)] for s in _HISTOGRAM_SUFFIXES if name.endswith(s)), name)
            if name not in known and base not in known:
                problems.append(f"{where}: metric {name!r} is not in docs/metrics.md nor a recording rule")
    return problems


def promtool_parse_errors(exprs: list[tuple[str, str]], promtool: str = "promtool") -> list[str]:
    """Parse every expression with Prometheus's own parser (``promtool check rules``).

    Each expression becomes a recording rule in a group of its own, so an error names it.
    """
    binary = shutil.which(promtool)
    if binary is None:
        raise MonitoringError(f"{promtool} not found: install Debian's 'prometheus' package")
    groups = [
        {"name": f"expr-{i}", "rules": [{"record": f"lint:expr_{i}", "expr": expr}]}
        for i, (_, expr) in enumerate(exprs)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "expressions.yml"
        path.write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
        result = subprocess.run(
            [binary, "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
    if result.returncode == 0:
        return []
    output = result.stdout + result.stderr
    problems = []
    for line in output.splitlines():
        match = re.search(r'group "expr-(\d+)", rule \d+, "[^"]*": (.*)', line)
        if match:
            where, expr = exprs[int(match.group(1))]
            problems.append(f"{where}: {match.group(2)} in {expr!r}")
    return problems or [output.strip()]


def lint(paths: MonitoringPaths, promtool: str = "promtool") -> list[str]:
    """Every problem with the rules' and dashboards' PromQL: parse errors and unknown metrics."""
    groups = load_rule_groups(paths.rules)
    exprs = rule_expressions(groups)
    for name, dashboard in load_dashboards(paths.dashboards).items():
        exprs += dashboard_expressions(dashboard, name)
    recorded = {rule["record"] for group in groups for rule in group.get("rules", []) if "record" in rule}
    known = documented_metrics(paths.metrics_doc.read_text(encoding="utf-8")) | recorded
    return promtool_parse_errors(exprs, promtool) + unknown_metrics(exprs, known)


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
    paths = monitoring_paths()
    rules, out = rules or paths.rules, out or paths.prometheus_rule
    try:
        text = render_prometheus_rule(rules)
    except MonitoringError as exc:
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
    paths = monitoring_paths()
    try:
        text = prometheus_config(paths.prometheus_config, paths.rules, api, scaler)
    except MonitoringError as exc:
        raise _fail(str(exc)) from exc
    atomic_write_text(out, text)
    typer.echo(f"wrote {out}")


@app.command("lint")
def lint_command(
    promtool: Annotated[str, typer.Option(help="promtool binary.")] = "promtool",
) -> None:
    """Parse every PromQL expression of the rules and dashboards; flag metrics not in docs/metrics.md."""
    try:
        problems = lint(monitoring_paths(), promtool)
    except MonitoringError as exc:
        raise _fail(str(exc)) from exc
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise _fail(f"{len(problems)} problem(s) in rules and dashboards")
    typer.echo("rules and dashboards: every expression parses and names only documented metrics")
