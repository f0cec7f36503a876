"""The simulator's reports: summary.json, table.md and simulation.png, each written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_mlops.autoscaling.config import AutoscalingParams
from sentiment_mlops.autoscaling.simulator import PolicyRun
from sentiment_mlops.files import atomic_path, atomic_write_text


def write_reports(result: dict[str, Any], out: Path, cfg: AutoscalingParams) -> dict[str, Path]:
    """summary.json, table.md and simulation.png under ``out`` (each written atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    series = result.pop("_series")
    paths = {"summary": out / "summary.json", "table": out / "table.md", "plot": out / "simulation.png"}
    atomic_write_text(paths["summary"], json.dumps(result, indent=2, sort_keys=False) + "\n")
    atomic_write_text(paths["table"], render_table(result))
    with atomic_path(paths["plot"]) as tmp:
        plot(series, cfg, tmp)
    result["_series"] = series
    return paths


def render_table(result: dict[str, Any]) -> str:
    """A markdown table of the per-policy figures and the forecast errors."""
    lines = [
        "| policy | under-provisioned min | requests over capacity | replica-hours | scaling events "
        "| mean utilisation |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, p in result["policies"].items():
        lines.append(
            f"| {name} | {p['underprovisioned_minutes']} | {p['requests_over_capacity']:.0f} "
            f"| {p['replica_hours']:.1f} | {p['scaling_events']} | {p['mean_utilisation']:.2f} |"
        )
    lines += ["", f"Forecast errors at {result['forecast']['horizon_minutes']} min (walk-forward):", ""]
    lines += ["| forecaster | sMAPE % | MAPE % |", "| --- | ---: | ---: |"]
    for name in ("holt_winters", "seasonal_naive", "last_value"):
        e = result["forecast"]["errors"][name]
        lines.append(f"| {name} | {e['smape']:.1f} | {e['mape']:.1f} |")
    if "sweep" in result:
        from sentiment_mlops.autoscaling.scenarios import render_tables

        lines += render_tables(result)
    return "\n".join(lines) + "\n"


def plot(series: dict[str, Any], cfg: AutoscalingParams, path: Path) -> None:
    """Demand vs ready capacity and replicas on the busiest day, and daily under-provisioning."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    demand: np.ndarray = series["demand"]
    runs: dict[str, PolicyRun] = series["runs"]
    index = series["index"]
    per_minute = 60 // cfg.sync_period_s
    peak = int(demand.argmax())
    lo, hi = max(peak - 720, 0), min(peak + 720, len(demand))
    t = index[lo:hi]
    fig, axes = plt.subplots(3, 1, figsize=(12, 11))
    ax = axes[0]
    ax.plot(t, demand[lo:hi], color="black", lw=0.7, label="demand (SRE/s)")
    for name, colour in (("reactive", "tab:red"), ("predictive", "tab:blue")):
        cap = runs[name].ready.reshape(-1, per_minute).mean(axis=1) * cfg.pod_capacity_rps
        ax.plot(t, cap[lo:hi], color=colour, lw=1, label=f"{name}: ready capacity")
    ax.set_ylabel("scoring work (single-review equivalents/s)")
    ax.set_title("Busiest day: demand and ready capacity")
    ax.legend(loc="upper left")
    ax = axes[1]
    for name, colour in (("reactive", "tab:red"), ("predictive", "tab:blue")):
        rep = runs[name].replicas.reshape(-1, per_minute).max(axis=1)
        ax.step(t, rep[lo:hi], where="post", color=colour, lw=1, label=f"{name}: replicas")
    ax.set_ylabel("replicas")
    ax.legend(loc="upper left")
    ax = axes[2]
    days = len(demand) // 1440
    for name, colour in (("reactive", "tab:red"), ("predictive", "tab:blue")):
        cap = runs[name].ready.reshape(-1, per_minute).mean(axis=1) * cfg.pod_capacity_rps
        under = (demand > cap + 1e-9)[: days * 1440].reshape(days, 1440).sum(axis=1)
        ax.plot(index[: days * 1440 : 1440], under, marker="o", ms=3, color=colour, label=name)
    outage = series["outage"]
    if outage.any():
        ax.fill_between(
            index,
            0,
            1,
            where=outage,
            transform=ax.get_xaxis_transform(),
            color="grey",
            alpha=0.3,
            label="outage (no data)",
        )
    ax.axvline(
        index[min(int(cfg.tuning_days * 1440), len(index) - 1)],
        color="green",
        ls="--",
        label="held-out period starts",
    )
    ax.set_ylabel("under-provisioned minutes / day")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
