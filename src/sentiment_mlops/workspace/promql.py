"""PromQL of the rules and dashboards against the metric contract: extract metric names, check
that each is documented in docs/metrics.md (or recorded by a rule), and parse every expression
with Prometheus's own parser (``promtool``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from sentiment_mlops.workspace.monitoring import MonitoringError, load_rule_groups
from sentiment_mlops.workspace.repository import MonitoringPaths

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
