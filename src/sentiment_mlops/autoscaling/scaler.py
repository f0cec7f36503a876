"""KEDA external scaler (gRPC ``externalscaler.ExternalScaler``) serving scoring-work forecasts.

KEDA calls ``GetMetrics`` every polling interval; the scaler reads the trigger's query from
Prometheus (``query_range``), fits the forecaster on a schedule (a background thread refits
every ``refitMinutes``; answers use the cached fit) and returns the upper-quantile forecast
``horizon`` minutes ahead as an ``AverageValue`` metric with ``targetPerPod`` as its target.

When Prometheus is unreachable, the history is short or the fit fails, the answer falls back to
the observed rate (never zero: the last known positive rate, else one pod's target), with a
warning log line and ``predictive_scaler_fallback_total{reason}``.

Trigger metadata (all strings): ``serverAddress`` (Prometheus URL; ``$PROMETHEUS_URL`` if absent),
``query`` (one series; default: the scoring work in single-review equivalents/s,
:func:`.config.scoring_work_query`), ``step`` (seconds, default 60), ``horizon`` (minutes),
``quantile``, ``targetPerPod`` (in the query's unit), ``historyDays``, ``refitMinutes``,
``activationThreshold`` (default 0), ``streamIntervalSeconds`` (default 30).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sentiment_mlops.autoscaling import forecaster as fc
from sentiment_mlops.autoscaling.config import AutoscalingParams, scoring_work_query
from sentiment_mlops.autoscaling.prometheus import PrometheusClient, PrometheusError
from sentiment_mlops.autoscaling.proto import externalscaler_pb2 as pb
from sentiment_mlops.autoscaling.proto import externalscaler_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

METRIC_NAME = "predicted_request_rate"
SERVICE_NAME = "externalscaler.ExternalScaler"


class TriggerMetadata(BaseModel):
    """The ScaledObject trigger's ``metadata``, validated; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    server_address: str = Field(alias="serverAddress", min_length=1)
    query: str = Field(min_length=1)
    step: float = Field(60.0, gt=0, le=3600)
    horizon: float = Field(gt=0, le=360)  # minutes
    quantile: float = Field(gt=0.5, lt=1)
    target_per_pod: float = Field(alias="targetPerPod", gt=0)
    history_days: float = Field(alias="historyDays", gt=0, le=7.5)  # query_range: <= 11,000 points
    refit_minutes: float = Field(alias="refitMinutes", gt=0)
    activation_threshold: float = Field(0.0, alias="activationThreshold", ge=0)
    stream_interval_seconds: float = Field(30.0, alias="streamIntervalSeconds", gt=0)


# KEDA passes the trigger's whole metadata, including its own connection settings for the
# external trigger; those are KEDA's business, not the forecaster's.
KEDA_KEYS = frozenset(
    {"scalerAddress", "caCert", "tlsCertFile", "tlsClientCert", "tlsClientKey", "unsafeSsl", "enableTLS"}
)


class BadMetadataError(ValueError):
    """The trigger metadata is missing a key or holds a bad value."""


def parse_metadata(raw: dict[str, str], cfg: AutoscalingParams) -> TriggerMetadata:
    """Trigger metadata over defaults from the ``autoscaling`` parameters and ``$PROMETHEUS_URL``."""
    merged: dict[str, Any] = {
        "serverAddress": os.environ.get("PROMETHEUS_URL", ""),
        "query": scoring_work_query(cfg),
        "horizon": cfg.horizon_minutes,
        "quantile": cfg.quantile,
        "targetPerPod": cfg.predictive_target_rps_per_pod,
        "historyDays": min(cfg.fit_window_days, 7.5),
        "refitMinutes": cfg.refit_minutes,
    }
    merged.update({k: v for k, v in raw.items() if k not in KEDA_KEYS})
    try:
        return TriggerMetadata.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise BadMetadataError(f"bad trigger metadata: {problems}") from exc


class ScalerMetrics:
    """The scaler's own Prometheus metrics (names fixed by docs/metrics.md)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["scaledobject", "namespace"]
        self.forecast = Gauge(
            "predictive_scaler_forecast_rps",
            "Forecast request rate returned to KEDA",
            labels,
            registry=registry,
        )
        self.observed = Gauge(
            "predictive_scaler_observed_rps", "Latest observed request rate", labels, registry=registry
        )
        self.fallback = Counter(
            "predictive_scaler_fallback",
            "Answers that fell back to the observed value",
            ["reason"],
            registry=registry,
        )
        self.fits = Counter("predictive_scaler_fits", "Model refits", ["outcome"], registry=registry)
        self.fit_duration = Histogram(
            "predictive_scaler_fit_duration_seconds",
            "Time to fit the forecaster",
            registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.grpc_requests = Counter(
            "predictive_scaler_grpc_requests", "gRPC calls from KEDA", ["method"], registry=registry
        )
        for reason in ("prometheus_unreachable", "short_history", "fit_failed"):
            self.fallback.labels(reason=reason)


@dataclass(frozen=True)
class _Fit:
    """A fitted forecaster and the time its step 0 stands for, published together as one object so
    a reader never pairs a new model with an old origin."""

    model: fc.FittedModel
    origin: float
    fitted_at: float


@dataclass
class _Entry:
    """One trigger's cached fit; absolute step k is time ``origin + k * step``."""

    meta: TriggerMetadata
    name: str
    namespace: str
    fit: _Fit | None = None
    failure: str | None = None  # why the last fit failed (fallback reason)
    last_used: float = 0.0  # monotonic time of the last call from KEDA, for eviction
    # One fit at a time per trigger: concurrent first calls wait for it instead of all fitting.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


# A trigger KEDA has not asked about for this long belongs to a deleted (or changed) ScaledObject:
# KEDA polls every active trigger each pollingInterval (30 s by default).
EVICT_AFTER_S = 15 * 60


class PredictiveScaler(pb_grpc.ExternalScalerServicer):
    """KEDA's ExternalScaler: forecasts from Prometheus history, cached fits, safe fallbacks."""

    def __init__(
        self,
        cfg: AutoscalingParams,
        metrics: ScalerMetrics,
        timeout: float = 5.0,
        evict_after_s: float = EVICT_AFTER_S,
    ) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.timeout = timeout
        self.evict_after_s = evict_after_s
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, TriggerMetadata], _Entry] = {}
        self._last_observed: dict[tuple[str, str], float] = {}

    # --- model cache ---------------------------------------------------------------------

    def _settings(self, meta: TriggerMetadata) -> fc.ForecastSettings:
        per_min = 60.0 / meta.step
        bucket = max(1, round(self.cfg.bucket_minutes * per_min))
        season = round(self.cfg.season_minutes * per_min)
        season -= season % bucket
        return fc.ForecastSettings(
            season=season,
            bucket=bucket,
            window=int(meta.history_days * 1440 * per_min),
            min_history=int(self.cfg.min_history_days * 1440 * per_min),
            level_window=max(1, round(self.cfg.level_window_minutes * per_min)),
            quantile=meta.quantile,
            ahead=math.ceil(2 * meta.refit_minutes * per_min),  # survives one missed refit
        )

    def _entry(self, ref: pb.ScaledObjectRef) -> _Entry:
        try:
            meta = parse_metadata(dict(ref.scalerMetadata), self.cfg)
        except BadMetadataError:
            raise
        key = (ref.namespace, ref.name, meta)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(meta=meta, name=ref.name, namespace=ref.namespace)
            entry.last_used = time.monotonic()
        return entry

    def evict_idle(self) -> list[tuple[str, str]]:
        """Forget triggers KEDA stopped asking about (ScaledObject deleted or its metadata changed),
        with their gauge series; return the ``(namespace, name)`` pairs no entry is left for."""
        cutoff = time.monotonic() - self.evict_after_s
        with self._lock:
            before = {(e.namespace, e.name) for e in self._entries.values()}
            for key in [k for k, e in self._entries.items() if e.last_used < cutoff]:
                del self._entries[key]
            gone = sorted(before - {(e.namespace, e.name) for e in self._entries.values()})
            for pair in gone:
                self._last_observed.pop(pair, None)
        for namespace, name in gone:
            log.info("%s/%s: no call from KEDA for %.0f s, forgotten", namespace, name, self.evict_after_s)
            for gauge in (self.metrics.forecast, self.metrics.observed):
                with contextlib.suppress(KeyError):  # never answered: no series to remove
                    gauge.remove(name, namespace)
        return gone

    def refit(self, entry: _Entry) -> None:
        """Fit on the trigger's history (one fit per trigger at a time); on failure keep the reason."""
        with entry.lock:
            self._refit_locked(entry)

    def _refit_locked(self, entry: _Entry) -> None:
        meta = entry.meta
        settings = self._settings(meta)
        horizon = max(1, math.ceil(meta.horizon * 60 / meta.step))
        end = math.floor(time.time() / meta.step) * meta.step
        start = end - (settings.window - 1) * meta.step
        client = PrometheusClient(meta.server_address, timeout=self.timeout)
        began = time.perf_counter()
        try:
            ts, values = client.query_range(meta.query, start, end, meta.step)
            if len(ts) == 0:
                raise fc.ShortHistoryError("the query returned no samples")
            # Steps without a sample had no traffic scraped: count them as zero.
            first = ts[0]
            series = np.zeros(round((end - first) / meta.step) + 1)
            series[np.round((ts - first) / meta.step).astype(int)] = values
            model = fc.fit(series, settings, horizon)
        except PrometheusError as exc:
            entry.failure = "prometheus_unreachable"
            self.metrics.fits.labels(outcome="prometheus_unreachable").inc()
            log.warning("refit of %s/%s skipped: %s", entry.namespace, entry.name, exc)
            return
        except fc.ShortHistoryError as exc:
            entry.failure = "short_history"
            self.metrics.fits.labels(outcome="short_history").inc()
            log.warning("refit of %s/%s skipped, short history: %s", entry.namespace, entry.name, exc)
            return
        except Exception as exc:  # a numerical failure must not take the scaler down
            entry.failure = "fit_failed"
            self.metrics.fits.labels(outcome="failed").inc()
            log.warning("refit of %s/%s failed: %r", entry.namespace, entry.name, exc)
            return
        self.metrics.fit_duration.observe(time.perf_counter() - began)
        self.metrics.fits.labels(outcome="success").inc()
        entry.fit = _Fit(model, first, time.time())  # one assignment: readers see old or new, whole
        entry.failure = None
        log.info(
            "fitted %s/%s on %d steps (z_upper=%.3f, %s)",
            entry.namespace,
            entry.name,
            len(series),
            model.z_upper,
            model.smoothing,
        )

    def refit_due(self) -> None:
        """Refit every trigger whose fit is older than its ``refitMinutes`` (called by the scheduler)."""
        self.evict_idle()
        with self._lock:
            entries = list(self._entries.values())
        now = time.time()
        for entry in entries:
            fitted_at = entry.fit.fitted_at if entry.fit else 0.0
            # A fit already under way (a first call's) is not started twice.
            if now - fitted_at >= entry.meta.refit_minutes * 60 and entry.lock.acquire(blocking=False):
                try:
                    self._refit_locked(entry)
                finally:
                    entry.lock.release()

    # --- answers -------------------------------------------------------------------------

    def _fallback(self, entry: _Entry, reason: str, observed: float | None) -> float:
        key = (entry.namespace, entry.name)
        value = (
            observed if observed and observed > 0 else self._last_observed.get(key, entry.meta.target_per_pod)
        )
        self.metrics.fallback.labels(reason=reason).inc()
        log.warning(
            "%s/%s: answering with the observed rate %.3f (fallback: %s)",
            entry.namespace,
            entry.name,
            value,
            reason,
        )
        return value

    def forecast(self, ref: pb.ScaledObjectRef) -> float:
        """The value returned to KEDA: the upper-quantile forecast, or the observed-rate fallback."""
        entry = self._entry(ref)
        meta = entry.meta
        labels = {"scaledobject": ref.name, "namespace": ref.namespace}
        if entry.fit is None and entry.failure is None:
            # First call for this trigger: fit now, the scheduler takes over. Concurrent first
            # calls wait on the trigger's lock, then use that one fit.
            with entry.lock:
                if entry.fit is None and entry.failure is None:
                    self._refit_locked(entry)
        settings = self._settings(meta)
        now = math.floor(time.time() / meta.step) * meta.step
        client = PrometheusClient(meta.server_address, timeout=self.timeout)
        try:
            ts, values = client.query_range(
                meta.query, now - (settings.level_window - 1) * meta.step, now, meta.step
            )
        except PrometheusError as exc:
            log.warning("%s/%s: %s", ref.namespace, ref.name, exc)
            value = self._fallback(entry, "prometheus_unreachable", None)
            self.metrics.forecast.labels(**labels).set(value)
            return value
        observed = float(values[-1]) if len(values) else 0.0
        self.metrics.observed.labels(**labels).set(observed)
        if observed > 0:
            self._last_observed[(ref.namespace, ref.name)] = observed
        fit = entry.fit  # read once: model and origin belong together
        if fit is None:
            value = self._fallback(entry, entry.failure or "short_history", observed)
        else:
            recent = np.zeros(settings.level_window)
            if len(ts):
                idx = np.round((ts - (now - (settings.level_window - 1) * meta.step)) / meta.step).astype(int)
                recent[idx] = values
            t = round((now - fit.origin) / meta.step) + 1
            try:
                value = fc.predict_from(fit.model, t, recent).upper
            except IndexError:  # refits stalled past the cached path
                value = self._fallback(entry, entry.failure or "fit_failed", observed)
        self.metrics.forecast.labels(**labels).set(value)
        return value

    def _abort_bad_metadata(self, context: grpc.ServicerContext, exc: BadMetadataError) -> None:
        log.warning("%s", exc)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    def _active(self, request: pb.ScaledObjectRef) -> bool:
        meta = self._entry(request).meta
        return self.forecast(request) > meta.activation_threshold

    # --- gRPC ----------------------------------------------------------------------------

    def IsActive(self, request: pb.ScaledObjectRef, context: grpc.ServicerContext) -> pb.IsActiveResponse:  # noqa: N802
        self.metrics.grpc_requests.labels(method="IsActive").inc()
        try:
            return pb.IsActiveResponse(result=self._active(request))
        except BadMetadataError as exc:
            self._abort_bad_metadata(context, exc)
            raise

    def StreamIsActive(  # noqa: N802
        self, request: pb.ScaledObjectRef, context: grpc.ServicerContext
    ) -> Iterator[pb.IsActiveResponse]:
        self.metrics.grpc_requests.labels(method="StreamIsActive").inc()
        try:
            interval = self._entry(request).meta.stream_interval_seconds
        except BadMetadataError as exc:
            self._abort_bad_metadata(context, exc)
            raise
        while context.is_active() and not self.stopping.is_set():
            yield pb.IsActiveResponse(result=self._active(request))
            # Sleeps on an event: no spinning, and a shutdown wakes it at once.
            self.stopping.wait(interval)

    def GetMetricSpec(  # noqa: N802
        self, request: pb.ScaledObjectRef, context: grpc.ServicerContext
    ) -> pb.GetMetricSpecResponse:
        self.metrics.grpc_requests.labels(method="GetMetricSpec").inc()
        try:
            target = self._entry(request).meta.target_per_pod
        except BadMetadataError as exc:
            self._abort_bad_metadata(context, exc)
            raise
        spec = pb.MetricSpec(metricName=METRIC_NAME, targetSize=math.ceil(target), targetSizeFloat=target)
        return pb.GetMetricSpecResponse(metricSpecs=[spec])

    def GetMetrics(  # noqa: N802
        self, request: pb.GetMetricsRequest, context: grpc.ServicerContext
    ) -> pb.GetMetricsResponse:
        self.metrics.grpc_requests.labels(method="GetMetrics").inc()
        try:
            value = self.forecast(request.scaledObjectRef)
        except BadMetadataError as exc:
            self._abort_bad_metadata(context, exc)
            raise
        metric = pb.MetricValue(
            metricName=request.metricName or METRIC_NAME, metricValue=math.ceil(value), metricValueFloat=value
        )
        return pb.GetMetricsResponse(metricValues=[metric])


def _schedule(scaler: PredictiveScaler, period: float) -> None:
    while not scaler.stopping.wait(period):
        scaler.refit_due()


def serve(cfg: AutoscalingParams, host: str = "0.0.0.0", port: int = 6000, metrics_port: int = 9102) -> None:
    """Serve gRPC (scaler + health) on ``port`` and ``/metrics`` on ``metrics_port`` until SIGTERM/SIGINT."""
    registry = CollectorRegistry()
    metrics = ScalerMetrics(registry)
    start_http_server(metrics_port, addr=host, registry=registry)
    scaler = PredictiveScaler(cfg, metrics)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    pb_grpc.add_ExternalScalerServicer_to_server(scaler, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    scheduler = threading.Thread(target=_schedule, args=(scaler, 30.0), name="refit", daemon=True)
    scheduler.start()
    log.info("predictive scaler: gRPC on %s:%d, /metrics on %s:%d", host, port, host, metrics_port)

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        health_servicer.enter_graceful_shutdown()
        scaler.stopping.set()
        server.stop(grace=5)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.wait_for_termination()
