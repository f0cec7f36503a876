"""The autoscaling parameters and the trace reader: what users feed the simulator and the scaler."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sentiment_mlops.autoscaling.config import AutoscalingParams, measured_capacity, parse_autoscaling
from sentiment_mlops.autoscaling.trace import TraceError, read_trace
from sentiment_mlops.config import ConfigError, load_params


def test_params_yaml_autoscaling_section_is_valid(repo_root: Path) -> None:
    params = parse_autoscaling(load_params(repo_root / "params.yaml").autoscaling)
    assert params.horizon_minutes * 60 >= params.startup_delay_s + 60 + params.sync_period_s
    assert params.predictive_target_rps_per_pod <= params.pod_capacity_rps


def test_unknown_or_bad_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"autoscaling\.quantil"):
        parse_autoscaling({"quantil": 0.9})
    with pytest.raises(ConfigError, match=r"autoscaling\.quantile"):
        parse_autoscaling({"quantile": 1.5})
    with pytest.raises(ConfigError, match="min_replicas must not exceed max_replicas"):
        parse_autoscaling({"min_replicas": 5, "max_replicas": 2})


def test_benchmark_capacity_is_read(tmp_path: Path) -> None:
    bench = tmp_path / "serve.json"
    assert measured_capacity(bench) is None
    bench.write_text(json.dumps({"rps": 512.5, "p99_ms": 20}))
    assert measured_capacity(bench) == 512.5
    bench.write_text(json.dumps({"throughput": 3}))
    with pytest.raises(ConfigError, match="rps"):
        measured_capacity(bench)


def test_targets_follow_capacity() -> None:
    params = AutoscalingParams.model_validate(
        {"pod_capacity_rps": 500, "target_utilisation": 0.6, "predictive_target_utilisation": 0.8}
    )
    assert params.target_rps_per_pod == pytest.approx(300)
    assert params.predictive_target_rps_per_pod == pytest.approx(400)


def test_missing_minutes_become_zeros(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("minute,count\n2024-01-01 00:00:00,5\n2024-01-01 00:03:00,7\n2024-01-01 00:01:00,1\n")
    trace = read_trace(csv, outages=())
    assert trace.values.tolist() == [5.0, 1.0, 0.0, 7.0]
    assert str(trace.counts.index[2]) == "2024-01-01 00:02:00"
    assert not trace.outage.any()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,count\n2024-01-01 00:00:00,1\n", r"lacks column\(s\) \['minute'\]"),
        ("minute,count\n2024-01-01 00:00:00,1\nyesterday,2\n", "line 3: 'minute' is not a timestamp"),
        ("minute,count\n2024-01-01 00:00:00,-1\n", "line 2: 'count' must be a non-negative number"),
        ("minute,count\n", "no rows"),
        ("minute,count\n2024-01-01 00:00:00,1\n2024-01-01 00:00:00,2\n", "duplicate minutes"),
    ],
)
def test_bad_trace_is_named(tmp_path: Path, text: str, message: str) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    with pytest.raises(TraceError, match=message):
        read_trace(csv)


def test_nasa_trace_is_complete_and_outages_marked(nasa_trace: Path) -> None:
    trace = read_trace(nasa_trace)
    counts = trace.counts
    assert len(counts) == 62 * 1440  # 1 July to 31 August, every minute
    assert counts.sum() == 3_461_612
    # Every outage minute is an empty minute; traffic resumes right after each outage.
    assert (trace.values[trace.outage] == 0).all()
    assert counts["1995-07-28 13:32"] > 0 and trace.outage[counts.index.get_loc("1995-07-28 13:33")]
    assert counts["1995-08-01 12:00"] > 0 and not trace.outage[counts.index.get_loc("1995-08-01 12:00")]
    assert trace.outage.sum() == int(np.sum(trace.values[trace.outage] == 0))
    assert 7000 < trace.outage.sum() < 7500
