"""The KEDA external scaler as KEDA sees it: a real gRPC client against the running scaler,
which reads a real Prometheus holding three days of the NASA trace as history."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sentiment_mlops.autoscaling.proto import externalscaler_pb2 as pb
from sentiment_mlops.autoscaling.proto import externalscaler_pb2_grpc as pb_grpc
from sentiment_mlops.processes import Supervised, free_port
from tests.integration.scaler_history import HISTORY_DAYS, expected_forecast, openmetrics, trace_history

pytestmark = pytest.mark.integration

QUERY = (
    'sum(rate(app_request_count_total{job="sentiment-api",'
    'endpoint=~"/v1/predict|/predict|/v2/models/.+/infer"}[1m]))'
)


@pytest.fixture(scope="module")
def history(nasa_trace: Path) -> dict:
    return trace_history(nasa_trace)


@pytest.fixture(scope="module")
def prometheus(history: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus on 127.0.0.1 with the trace backfilled by promtool."""
    for tool in ("prometheus", "promtool"):
        if not Path(f"/usr/bin/{tool}").exists():
            pytest.fail(f"/usr/bin/{tool} missing: apt-get install prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    data = work / "data"
    source = work / "history.om"
    source.write_text(openmetrics(history["counts"], history["first"]), encoding="utf-8")
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
    )
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n", encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=30d",
    ]
    with Supervised("Prometheus", argv, work / "prometheus.log", url=url, ready_url=f"{url}/-/ready"):
        yield url


@pytest.fixture(scope="module")
def scaler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The scaler started as it runs in the cluster (``sentiment autoscale scaler``)."""
    port, metrics_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("scaler") / "scaler.log"
    argv = [
        str(Path(sys.executable).with_name("sentiment")),
        *(
            "autoscale",
            "scaler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--metrics-port",
            str(metrics_port),
        ),
    ]
    process = Supervised("the scaler", argv, log, env={**os.environ, "PROMETHEUS_URL": ""}, ready_timeout=30)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    health = health_pb2_grpc.HealthStub(channel)

    def serving() -> bool:
        try:
            answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        except grpc.RpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    process.start()
    try:
        process.wait_ready(also=serving, poll=0.2)
        yield {
            "stub": pb_grpc.ExternalScalerStub(channel),
            "health": health,
            "metrics_url": f"http://127.0.0.1:{metrics_port}/metrics",
            "process": process,
            "log": log,
        }
    finally:
        channel.close()
        process.stop()


def _ref(server: str, name: str = "sentiment-api", **extra: str) -> pb.ScaledObjectRef:
    meta = {
        # KEDA passes the whole trigger metadata, its own keys included.
        "scalerAddress": "sentiment-scaler.sentiment.svc.cluster.local:6000",
        "serverAddress": server,
        "query": QUERY,
        "step": "60",
        "horizon": "5",
        "quantile": "0.9",
        "targetPerPod": "360",
        "historyDays": str(HISTORY_DAYS),
        "refitMinutes": "60",
    }
    meta.update(extra)
    return pb.ScaledObjectRef(name=name, namespace="sentiment", scalerMetadata=meta)


def _metric(url: str, name: str, **labels: str) -> float:
    for line in requests.get(url, timeout=5).text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} not exported")


def test_metric_spec_names_the_target(scaler, prometheus):
    spec = scaler["stub"].GetMetricSpec(_ref(prometheus), timeout=10).metricSpecs
    assert len(spec) == 1
    assert spec[0].targetSizeFloat == 360.0
    assert spec[0].targetSize == 360


def test_get_metrics_returns_the_forecast_from_prometheus_history(scaler, prometheus, history):
    before = math.floor(time.time() / 60) * 60
    response = scaler["stub"].GetMetrics(
        # A ScaledObject of its own, so its first fit happens within this call.
        pb.GetMetricsRequest(
            scaledObjectRef=_ref(prometheus, name="value-check"), metricName="s0-predicted_request_rate"
        ),
        timeout=60,
    )
    after = math.floor(time.time() / 60) * 60
    (value,) = response.metricValues
    assert value.metricName == "s0-predicted_request_rate"
    assert value.metricValue == math.ceil(value.metricValueFloat)
    candidates = {
        (fit_end, end): expected_forecast(history, fit_end, end)
        for fit_end, end in {(before, before), (before, after), (after, after)}
    }
    assert any(
        value.metricValueFloat == pytest.approx(forecast, rel=1e-6) for forecast, _ in candidates.values()
    ), (value.metricValueFloat, candidates)
    # The upper quantile sits above the observed rate's neighbourhood, not at zero.
    observed = next(iter(candidates.values()))[1]
    assert value.metricValueFloat > 0.5 * observed > 0
    # Its own /metrics reports what it answered and what it saw; no fallback happened.
    labels = {"scaledobject": "value-check", "namespace": "sentiment"}
    assert _metric(scaler["metrics_url"], "predictive_scaler_forecast_rps", **labels) == pytest.approx(
        value.metricValueFloat
    )
    assert _metric(scaler["metrics_url"], "predictive_scaler_observed_rps", **labels) == pytest.approx(
        max(c[1] for c in candidates.values()), rel=0.5
    )
    assert _metric(scaler["metrics_url"], "predictive_scaler_fits_total", outcome="success") >= 1
    assert _metric(scaler["metrics_url"], "predictive_scaler_grpc_requests_total", method="GetMetrics") >= 1


def test_is_active_with_traffic(scaler, prometheus):
    assert scaler["stub"].IsActive(_ref(prometheus), timeout=30).result is True


def test_stream_is_active_waits_between_answers(scaler, prometheus):
    stream = scaler["stub"].StreamIsActive(_ref(prometheus, streamIntervalSeconds="1"), timeout=30)
    stamps = []
    for answer in stream:
        assert answer.result is True
        stamps.append(time.monotonic())
        if len(stamps) == 3:
            stream.cancel()
            break
    assert stamps[2] - stamps[0] >= 1.8  # paced by the interval, not a busy loop


def test_falls_back_to_observed_value_on_short_history(scaler, prometheus):
    ref = _ref(prometheus, query="short_lived")
    before = _metric(scaler["metrics_url"], "predictive_scaler_fallback_total", reason="short_history")
    response = scaler["stub"].GetMetrics(
        pb.GetMetricsRequest(scaledObjectRef=ref, metricName="m"), timeout=30
    )
    assert response.metricValues[0].metricValueFloat == pytest.approx(123.0)
    after = _metric(scaler["metrics_url"], "predictive_scaler_fallback_total", reason="short_history")
    assert after == before + 1


def test_falls_back_when_prometheus_is_down_never_zero_never_crashing(scaler, prometheus):
    dead = f"http://127.0.0.1:{free_port()}"
    before = _metric(
        scaler["metrics_url"], "predictive_scaler_fallback_total", reason="prometheus_unreachable"
    )
    for _ in range(2):
        response = scaler["stub"].GetMetrics(
            pb.GetMetricsRequest(scaledObjectRef=_ref(dead, name="never-observed"), metricName="m"),
            timeout=30,
        )
        # Nothing ever observed for this ScaledObject: one pod's target, never zero.
        assert response.metricValues[0].metricValueFloat == pytest.approx(360.0)
    # A ScaledObject observed before at 123 req/s: its last observed rate.
    alive = _ref(prometheus, name="seen-before", query="short_lived")
    scaler["stub"].GetMetrics(pb.GetMetricsRequest(scaledObjectRef=alive, metricName="m"), timeout=30)
    seen = _ref(dead, name="seen-before", query="short_lived")
    response = scaler["stub"].GetMetrics(
        pb.GetMetricsRequest(scaledObjectRef=seen, metricName="m"), timeout=30
    )
    assert response.metricValues[0].metricValueFloat == pytest.approx(123.0)
    after = _metric(
        scaler["metrics_url"], "predictive_scaler_fallback_total", reason="prometheus_unreachable"
    )
    assert after == before + 3
    assert scaler["process"].exit_code() is None
    status = scaler["health"].Check(health_pb2.HealthCheckRequest(service="externalscaler.ExternalScaler"))
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    assert "fallback: prometheus_unreachable" in scaler["log"].read_text(encoding="utf-8")


def test_bad_metadata_is_invalid_argument_naming_the_key(scaler, prometheus):
    with pytest.raises(grpc.RpcError) as err:
        scaler["stub"].GetMetricSpec(_ref(prometheus, quantile="1.5"), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "quantile" in err.value.details()
