"""Every PromQL expression of the rules and dashboards parses (promtool) and names only metrics of the
contract in docs/metrics.md, or recorded by a rule."""

from __future__ import annotations

import pytest

from sentiment_mlops.workspace import promql
from sentiment_mlops.workspace.repository import MonitoringPaths

# --- PromQL: parse and metric contract -----------------------------------------------------------


@pytest.mark.integration  # runs promtool
def test_every_expression_parses_with_promtool(promtool: str, groups, dashboards) -> None:
    exprs = promql.rule_expressions(groups)
    for name, dashboard in dashboards.items():
        exprs += promql.dashboard_expressions(dashboard, name)
    assert len(exprs) > 80
    assert promql.promtool_parse_errors(exprs, promtool) == []


def test_every_metric_is_documented_or_recorded(paths: MonitoringPaths, groups, dashboards) -> None:
    exprs = promql.rule_expressions(groups)
    for name, dashboard in dashboards.items():
        exprs += promql.dashboard_expressions(dashboard, name)
    known = promql.documented_metrics(paths.metrics_doc.read_text(encoding="utf-8"))
    known |= {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    assert promql.unknown_metrics(exprs, known) == []
    # and the check is not vacuous: the expressions name the app, scaler and third-party metrics
    named = set().union(*(promql.metric_names(expr) for _, expr in exprs))
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
def test_lint_command_passes_on_the_project(paths: MonitoringPaths, promtool: str) -> None:
    assert promql.lint(paths, promtool) == []


@pytest.mark.integration  # runs promtool
def test_a_broken_expression_is_rejected_and_named(promtool: str) -> None:
    exprs = [
        ("good", 'sum(rate(app_request_count_total{job="sentiment-api"}[5m]))'),
        ("unclosed", 'sum(rate(app_request_count_total{job="sentiment-api"}[5m])'),
        ("bad duration", "rate(app_request_count_total[5 minutes])"),
    ]
    problems = promql.promtool_parse_errors(exprs, promtool)
    assert len(problems) == 2
    assert problems[0].startswith("unclosed: ") and "parse error" in problems[0]
    assert problems[1].startswith("bad duration: ")


def test_an_undocumented_metric_is_flagged() -> None:
    known = {"app_request_count_total", "app_request_latency_seconds", "up"}
    exprs = [
        ("ok", "histogram_quantile(0.99, sum by (le) (rate(app_request_latency_seconds_bucket[5m])))"),
        ("typo", "sum(rate(app_requests_count_total[5m])) / on (job) group_left up"),
    ]
    assert promql.unknown_metrics(exprs, known) == [
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
    assert promql.metric_names(expr) == names


def test_grafana_variables_are_substituted() -> None:
    expr = 'sum(rate(m{namespace=~"$namespace",pod=~"${pod:regex}"}[$__rate_interval])) + n[${__interval}]'
    assert promql.substitute_grafana_variables(expr) == (
        'sum(rate(m{namespace=~"placeholder",pod=~"placeholder"}[5m])) + n[5m]'
    )


def test_documented_metrics_parse_the_contract(paths: MonitoringPaths) -> None:
    known = promql.documented_metrics(paths.metrics_doc.read_text(encoding="utf-8"))
    for metric in (
        "app_request_count_total",
        "model_baseline_positive_share",
        "predictive_scaler_fallback_total",
        "kube_deployment_spec_replicas",
        "keda_scaler_detail_errors_total",
        "istio_request_duration_milliseconds",
        "up",
    ):
        assert metric in known, metric
    assert not {"method", "endpoint", "_bucket", "metric", "source"} & known
