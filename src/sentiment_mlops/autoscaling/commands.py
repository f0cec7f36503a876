"""``sentiment autoscale ...``: simulate policies on a trace, backtest the forecaster, serve the scaler."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sentiment_mlops.config import ConfigError, Paths

if TYPE_CHECKING:
    from sentiment_mlops.autoscaling.config import AutoscalingParams
    from sentiment_mlops.autoscaling.trace import Trace

app = typer.Typer(
    name="autoscale",
    help="Predictive autoscaling: trace simulation, forecast backtest, KEDA external scaler.",
    no_args_is_help=True,
)
log = logging.getLogger(__name__)

TraceOpt = Annotated[Path, typer.Option("--trace", help="Per-minute 'minute,count' CSV.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", help="Override an autoscaling parameter, e.g. --param quantile=0.95 (repeat)."),
]


def _overrides(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise _fail(f"--param expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _load(
    trace_path: Path, no_outages: bool, params: list[str] | None = None
) -> tuple[Trace, AutoscalingParams]:
    from sentiment_mlops.autoscaling.config import load_autoscaling, parse_autoscaling
    from sentiment_mlops.autoscaling.trace import TraceError, read_trace

    try:
        cfg = load_autoscaling()
        overrides = _overrides(params)
        if overrides:
            cfg = parse_autoscaling({**cfg.model_dump(), **overrides})
        trace = read_trace(trace_path, outages=() if no_outages else None)
    except (ConfigError, TraceError) as exc:
        raise _fail(str(exc)) from exc
    return trace, cfg


@app.command()
def simulate(
    trace: TraceOpt,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("reports/autoscaling"),
    no_outages: Annotated[
        bool, typer.Option("--no-outages", help="Do not mark the NASA 1995 outages.")
    ] = False,
    param: ParamOpt = None,
) -> None:
    """Replay TRACE through reactive, predictive and static-peak scaling; write summary.json, table, plot."""
    from sentiment_mlops.autoscaling.experiment import run_simulation
    from sentiment_mlops.autoscaling.report import write_reports

    data, cfg = _load(trace, no_outages, param)
    if len(data.values) < cfg.min_history_minutes + cfg.horizon_minutes:
        raise _fail(f"{trace} holds {len(data.values)} minutes; need more than {cfg.min_history_minutes}")
    result = run_simulation(data, cfg)
    out = out if out.is_absolute() else Paths().root / out
    paths = write_reports(result, out, cfg)
    typer.echo((paths["table"]).read_text(encoding="utf-8"))
    cmp = result["comparison"]
    typer.echo(
        f"predictive vs reactive: under-provisioned minutes "
        f"{-100 * (cmp['underprovisioned_minutes_reduction'] or 0):+.0f}%, "
        f"replica-hours {100 * cmp['replica_hours_increase']:+.1f}%"
    )
    typer.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


@app.command()
def backtest(
    trace: TraceOpt,
    horizon: Annotated[list[int] | None, typer.Option("--horizon", help="Minutes ahead (repeat).")] = None,
    no_outages: Annotated[bool, typer.Option("--no-outages")] = False,
    param: ParamOpt = None,
) -> None:
    """Walk-forward forecast errors (sMAPE, MAPE) of Holt-Winters vs seasonal-naive and last-value."""
    from sentiment_mlops.autoscaling.experiment import forecast_settings
    from sentiment_mlops.autoscaling.forecaster import forecast_errors, walk_forward

    data, cfg = _load(trace, no_outages, param)
    results = {}
    for h in horizon or [cfg.horizon_minutes]:
        if h < 1:
            raise _fail("--horizon must be >= 1")
        wf = walk_forward(data.values, forecast_settings(cfg), h, cfg.refit_minutes, progress=True)
        results[str(h)] = forecast_errors(data.values, wf, ~data.outage)
    typer.echo(json.dumps(results, indent=2))


@app.command()
def scaler(
    port: Annotated[int, typer.Option("--port", help="gRPC port for KEDA.")] = 6000,
    metrics_port: Annotated[int, typer.Option("--metrics-port", help="Prometheus /metrics port.")] = 9102,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "0.0.0.0",
) -> None:
    """Serve KEDA's external scaler (gRPC, with grpc.health.v1) and its own /metrics."""
    from sentiment_mlops.autoscaling.config import load_autoscaling
    from sentiment_mlops.autoscaling.server import serve

    try:
        # params.yaml's autoscaling section (the image ships it, $SENTIMENT_HOME finds it); never
        # the code defaults, which are not what the simulator evaluated. Trigger metadata overrides.
        cfg = load_autoscaling()
    except ConfigError as exc:
        raise _fail(f"autoscale scaler: {exc}") from exc
    log.info("autoscaling parameters from %s", Paths().params_file)
    serve(cfg, host=host, port=port, metrics_port=metrics_port)
