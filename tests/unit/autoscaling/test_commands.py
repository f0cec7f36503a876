"""``sentiment autoscale simulate`` and ``backtest`` end to end on a slice of the real trace."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sentiment_mlops.autoscaling.commands import app

POLICY_KEYS = {"underprovisioned_minutes", "replica_hours", "requests_over_capacity", "scaling_events"}


@pytest.fixture(scope="module")
def four_days(nasa_trace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = pd.read_csv(nasa_trace)
    frame = frame[(frame["minute"] >= "1995-07-10") & (frame["minute"] < "1995-07-14")]
    path = tmp_path_factory.mktemp("trace") / "four_days.csv"
    frame.to_csv(path, index=False)
    return path


def test_simulate_writes_summary_table_and_plot(four_days: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--trace",
            str(four_days),
            "--out",
            str(out),
            "--param",
            "fit_window_days=2",
            "--param",
            "tuning_days=3",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["policies"]) == {"reactive", "predictive", "predictive_only", "static_peak"}
    for name, policy in summary["policies"].items():
        assert set(policy) >= POLICY_KEYS, name
        assert set(policy["heldout"]) >= POLICY_KEYS, name
    errors = summary["forecast"]["errors"]
    assert {"holt_winters", "seasonal_naive", "last_value"} <= set(errors)
    assert all(errors[k]["smape"] > 0 for k in ("holt_winters", "seasonal_naive", "last_value"))
    assert summary["params"]["fit_window_days"] == 2
    assert summary["trace"]["minutes"] == 4 * 1440
    assert (out / "table.md").read_text().startswith("| policy |")
    assert (out / "simulation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("*.tmp*"))


def test_bad_trace_exits_2_naming_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,requests\n2024-01-01 00:00:00,3\n")
    result = CliRunner().invoke(app, ["simulate", "--trace", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "lacks column(s) ['count', 'minute']" in result.output
    assert not (tmp_path / "o").exists()


def test_bad_param_override_exits_2(four_days: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--trace", str(four_days), "--out", str(tmp_path), "--param", "quantile=2"]
    )
    assert result.exit_code == 2
    assert "autoscaling.quantile" in result.output


def test_backtest_prints_errors_per_horizon(four_days: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--trace",
            str(four_days),
            "--horizon",
            "1",
            "--horizon",
            "5",
            "--param",
            "fit_window_days=2",
        ],
    )
    assert result.exit_code == 0, result.output
    errors = json.loads(result.stdout[result.stdout.index("{") :])
    assert set(errors) == {"1", "5"}
    assert errors["1"]["last_value"]["smape"] < errors["5"]["last_value"]["smape"]
