"""``sentiment loop`` (the production loop, run end to end in a scratch copy of this repository) and
the ``sentiment monitoring`` commands (the rules, their PrometheusRule and lint)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.config import Paths
from sentiment_mlops.files import atomic_write_text
from sentiment_mlops.workspace import monitoring, promql
from sentiment_mlops.workspace.repository import RepositoryError, monitoring_paths

# What the command prints of the loop's summary (reports/loop holds all of it).
LOOP_KEYS = (
    "served",
    "logged",
    "dropped",
    "lost",
    "feedback",
    "live_accuracy_before",
    "live_accuracy_after",
    "estimated_accuracy_mae",
    "challenger_gain_on_production_window",
    "production_window_mcnemar_p_value",
)


def loop(
    archive: Annotated[
        Path, typer.Option(help="The IMDB archive (tar.gz).", envvar="SENTIMENT_DATA_ARCHIVE", exists=True)
    ],
    out: Annotated[Path | None, typer.Option(help="Default: reports/loop.")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Scratch project (default: a temporary folder).")
    ] = None,
    # The default takes every 4- and 7-star review of the train split (5,192 in IMDB), for the
    # largest held-out production window McNemar's test can judge a gain on (docs/figures.md).
    stream: Annotated[
        int,
        typer.Option(
            min=500, help="Reviews in the production stream, whole movies (at most the 5,192 nuanced ones)."
        ),
    ] = 6000,
) -> None:
    """The production loop end to end: serve, replay labelled traffic, alert, export feedback,
    retrain, compare, promote, reload, recover (gunicorn, Prometheus and this CLI, on loopback)."""
    from sentiment_mlops.workspace import loop as loop_mod

    paths = Paths()
    scratch = workdir or Path(tempfile.mkdtemp(prefix="sentiment-loop-"))
    try:
        summary = loop_mod.run(archive, out or paths.reports / "loop", scratch, paths.params_file, stream)
    finally:
        if workdir is None:
            loop_mod.clean(scratch)
    typer.echo(json.dumps({k: summary[k] for k in LOOP_KEYS}, indent=2))


monitoring_app = typer.Typer(help="Prometheus rules and Grafana dashboards.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@monitoring_app.command("render-rule")
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
        text = monitoring.render_prometheus_rule(rules)
    except (monitoring.MonitoringError, RepositoryError) as exc:
        raise _fail(str(exc)) from exc
    if check:
        current = out.read_text(encoding="utf-8") if out.is_file() else ""
        if current != text:
            raise _fail(f"{out} is out of date with {rules}: run `sentiment monitoring render-rule`")
        typer.echo(f"{out} is up to date")
        return
    atomic_write_text(out, text)
    typer.echo(f"wrote {out}")


@monitoring_app.command("prometheus-config")
def prometheus_config_command(
    out: Annotated[Path, typer.Option(help="Where to write the configuration.")],
    api: Annotated[str | None, typer.Option(help="API target HOST:PORT.")] = None,
    scaler: Annotated[str | None, typer.Option(help="Scaler target HOST:PORT.")] = None,
) -> None:
    """Write the local Prometheus configuration with other targets and an absolute rules path."""
    try:
        paths = monitoring_paths()
        text = monitoring.prometheus_config(paths.prometheus_config, paths.rules, api, scaler)
    except (monitoring.MonitoringError, RepositoryError) as exc:
        raise _fail(str(exc)) from exc
    atomic_write_text(out, text)
    typer.echo(f"wrote {out}")


@monitoring_app.command("lint")
def lint_command(
    promtool: Annotated[str, typer.Option(help="promtool binary.")] = "promtool",
) -> None:
    """Parse every PromQL expression of the rules and dashboards; flag metrics not in docs/metrics.md."""
    try:
        problems = promql.lint(monitoring_paths(), promtool)
    except (monitoring.MonitoringError, RepositoryError) as exc:
        raise _fail(str(exc)) from exc
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise _fail(f"{len(problems)} problem(s) in rules and dashboards")
    typer.echo("rules and dashboards: every expression parses and names only documented metrics")
