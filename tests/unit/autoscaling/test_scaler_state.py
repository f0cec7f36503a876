"""The predictive scaler's per-trigger state under KEDA's concurrent calls: one fit per trigger, a
fit published whole, and the entry of a deleted ScaledObject forgotten.

Prometheus and the forecaster are replaced by recorders here, because what is tested is the
scaler's bookkeeping between gRPC threads; tests/integration/test_predictive_scaler.py runs the
real ones."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from sentiment_mlops.autoscaling import scaler as scaler_mod
from sentiment_mlops.autoscaling.config import AutoscalingParams
from sentiment_mlops.autoscaling.forecaster import Forecast
from sentiment_mlops.autoscaling.proto import externalscaler_pb2 as pb
from sentiment_mlops.autoscaling.scaler_metrics import ScalerMetrics

STEP = 60.0
META = {
    "serverAddress": "http://127.0.0.1:9",  # never contacted: query_range is replaced
    "query": "sum(rate(app_request_count_total[1m]))",
    "refitMinutes": "60",
}


@dataclass
class FakeModel:
    """Stands for a fitted forecaster; remembers the origin its history started at."""

    origin: float
    z_upper: float = 1.0
    smoothing: str = "recorded"


class Recorder:
    """Replaces Prometheus and the forecaster; counts fits, checks each prediction's origin."""

    def __init__(self, fit_seconds: float = 0.0) -> None:
        self.fit_seconds = fit_seconds
        self.fits = 0
        self.first_sample = time.time() - 3 * 86_400
        self.mismatches: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def query_range(self, _promql: str, start: float, end: float, step: float):
        first = max(start, self.first_sample)
        ts = np.arange(first, end + step / 2, step)
        return ts, np.full(ts.size, 100.0)

    def fit(self, series, settings, horizon):
        with self._lock:
            self.fits += 1
        time.sleep(self.fit_seconds)
        return FakeModel(origin=self.first_sample)

    def predict_from(self, model: FakeModel, t: int, recent) -> Forecast:
        # forecast() derived t from the origin it read; it must be the origin of this model.
        now = np.floor(time.time() / STEP) * STEP
        used_origin = now - (t - 1) * STEP
        if abs(used_origin - model.origin) > STEP:  # a minute boundary may pass in between
            self.mismatches.append((used_origin, model.origin))
        return Forecast(point=100.0, upper=120.0)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(
        scaler_mod.PrometheusClient, "query_range", lambda _client, *args: rec.query_range(*args)
    )
    monkeypatch.setattr(scaler_mod.fc, "fit", rec.fit)
    monkeypatch.setattr(scaler_mod.fc, "predict_from", rec.predict_from)
    return rec


def _scaler(**kwargs) -> tuple[scaler_mod.PredictiveScaler, CollectorRegistry]:
    registry = CollectorRegistry()
    return scaler_mod.PredictiveScaler(
        AutoscalingParams.model_validate({}), ScalerMetrics(registry), **kwargs
    ), registry


def _ref(name: str = "sentiment-api", **meta: str) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(name=name, namespace="sentiment", scalerMetadata={**META, **meta})


def test_concurrent_first_calls_fit_once(recorder: Recorder) -> None:
    # KEDA's first calls (IsActive, GetMetricSpec, GetMetrics from two operators) arrive together.
    # Before the per-trigger lock, each of the 8 threads ran its own fit.
    recorder.fit_seconds = 0.3
    scaler, _ = _scaler()
    answers: list[float] = []
    threads = [threading.Thread(target=lambda: answers.append(scaler.forecast(_ref()))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert recorder.fits == 1
    assert answers == [120.0] * 8  # every caller answered from that one fit, none fell back


def test_a_refit_is_published_whole(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    # A reader between the writer's attribute assignments must still see a model with its own
    # origin. The old code assigned model and origin one after the other: the forecast run here,
    # after every single assignment of the refit, paired the new model with the old origin.
    scaler, _ = _scaler()
    ref = _ref()
    scaler.forecast(ref)  # the first fit, origin three days ago
    recorder.first_sample -= 86_400  # the refit sees a day more history: another origin
    armed = threading.Event()
    original = scaler_mod._Entry.__setattr__

    def setattr_then_read(entry, name, value):
        original(entry, name, value)
        if armed.is_set():
            armed.clear()  # the nested forecast must not recurse
            scaler.forecast(ref)
            armed.set()

    monkeypatch.setattr(scaler_mod._Entry, "__setattr__", setattr_then_read)
    entry = scaler._entry(ref)
    armed.set()
    scaler.refit(entry)
    armed.clear()
    scaler.forecast(ref)
    assert recorder.fits == 2
    assert recorder.mismatches == []


def _series(registry: CollectorRegistry, metric: str) -> set[str]:
    return {
        sample.labels["scaledobject"]
        for family in registry.collect()
        if family.name == metric
        for sample in family.samples
    }


def test_a_deleted_scaledobject_is_forgotten(recorder: Recorder) -> None:
    # Before eviction, a deleted ScaledObject kept its entry, its gauges and its hourly refits forever.
    scaler, registry = _scaler(evict_after_s=0.2)
    scaler.forecast(_ref("deleted", refitMinutes="0.001"))
    assert _series(registry, "predictive_scaler_forecast_rps") == {"deleted"}
    time.sleep(0.3)
    scaler.forecast(_ref("kept", refitMinutes="0.001"))
    fits = recorder.fits
    time.sleep(0.1)  # both fits are due (0.06 s), only "kept" was asked about lately
    scaler.refit_due()  # what the scheduler runs every 30 s
    assert recorder.fits == fits + 1  # only "kept" is refitted
    assert _series(registry, "predictive_scaler_forecast_rps") == {"kept"}
    assert _series(registry, "predictive_scaler_observed_rps") == {"kept"}


def test_changed_metadata_drops_the_old_entry(recorder: Recorder) -> None:
    # Editing a ScaledObject's trigger makes a new key; the old one stops being asked about.
    scaler, registry = _scaler(evict_after_s=0.2)
    scaler.forecast(_ref(quantile="0.9"))
    time.sleep(0.3)
    scaler.forecast(_ref(quantile="0.95"))
    scaler.refit_due()
    assert _series(registry, "predictive_scaler_forecast_rps") == {"sentiment-api"}  # still answered
    assert scaler.evict_idle() == []  # the live trigger is kept
