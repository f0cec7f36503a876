"""KEDA external scaler (gRPC ``externalscaler.ExternalScaler``) serving scoring-work forecasts.

KEDA calls ``GetMetrics`` every polling interval; the scaler reads the trigger's query from
Prometheus (``query_range``), fits the forecaster on a schedule (a background thread refits
every ``refitMinutes``; answers use the cached fit) and returns the upper-quantile forecast
``horizon`` minutes ahead as an ``AverageValue`` metric with ``targetPerPod`` as its target.

When Prometheus is unreachable, the history is short or the fit fails, the answer falls back to
the observed rate (never zero: the last known positive rate, else one pod's target), with a
warning log line and ``predictive_scaler_fallback_total{reason}``.

The trigger's metadata is validated by :mod:`.trigger`, the scaler's own metrics are
:mod:`.scaler_metrics`, and :mod:`.server` runs it (gRPC with health, ``/metrics``, signals).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import numpy as np

from sentiment_mlops.autoscaling import forecaster as fc
from sentiment_mlops.autoscaling.config import AutoscalingParams
from sentiment_mlops.autoscaling.prometheus import PrometheusClient, PrometheusError
from sentiment_mlops.autoscaling.proto import externalscaler_pb2 as pb
from sentiment_mlops.autoscaling.proto import externalscaler_pb2_grpc as pb_grpc
from sentiment_mlops.autoscaling.scaler_metrics import ScalerMetrics
from sentiment_mlops.autoscaling.trigger import (
    METRIC_NAME,
    BadMetadataError,
    TriggerMetadata,
    forecast_settings,
    parse_metadata,
)

log = logging.getLogger(__name__)


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


def _fit_failure(exc: Exception) -> tuple[str, str]:
    """Why a fit failed: the fallback reason and the ``predictive_scaler_fits`` outcome."""
    if isinstance(exc, PrometheusError):
        return "prometheus_unreachable", "prometheus_unreachable"
    if isinstance(exc, fc.ShortHistoryError):
        return "short_history", "short_history"
    return "fit_failed", "failed"


@contextlib.contextmanager
def _bad_metadata_aborts(context: grpc.ServicerContext) -> Iterator[None]:
    """Answer a call whose trigger metadata is bad with INVALID_ARGUMENT (KEDA logs the message)."""
    try:
        yield
    except BadMetadataError as exc:
        log.warning("%s", exc)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise


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

    def _entry(self, ref: pb.ScaledObjectRef) -> _Entry:
        meta = parse_metadata(dict(ref.scalerMetadata), self.cfg)  # BadMetadataError: the caller aborts
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
        settings = forecast_settings(meta, self.cfg)
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
        except Exception as exc:  # a numerical failure must not take the scaler down either
            entry.failure, outcome = _fit_failure(exc)
            self.metrics.fits.labels(outcome=outcome).inc()
            log.warning("refit of %s/%s not done (%s): %r", entry.namespace, entry.name, entry.failure, exc)
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
        settings = forecast_settings(meta, self.cfg)
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

    def _active(self, request: pb.ScaledObjectRef) -> bool:
        meta = self._entry(request).meta
        return self.forecast(request) > meta.activation_threshold

    # --- gRPC ----------------------------------------------------------------------------

    def IsActive(self, request: pb.ScaledObjectRef, context: grpc.ServicerContext) -> pb.IsActiveResponse:  # noqa: N802
        self.metrics.grpc_requests.labels(method="IsActive").inc()
        with _bad_metadata_aborts(context):
            return pb.IsActiveResponse(result=self._active(request))

    def StreamIsActive(  # noqa: N802
        self, request: pb.ScaledObjectRef, context: grpc.ServicerContext
    ) -> Iterator[pb.IsActiveResponse]:
        self.metrics.grpc_requests.labels(method="StreamIsActive").inc()
        with _bad_metadata_aborts(context):
            interval = self._entry(request).meta.stream_interval_seconds
        while context.is_active() and not self.stopping.is_set():
            yield pb.IsActiveResponse(result=self._active(request))
            # Sleeps on an event: no spinning, and a shutdown wakes it at once.
            self.stopping.wait(interval)

    def GetMetricSpec(  # noqa: N802
        self, request: pb.ScaledObjectRef, context: grpc.ServicerContext
    ) -> pb.GetMetricSpecResponse:
        self.metrics.grpc_requests.labels(method="GetMetricSpec").inc()
        with _bad_metadata_aborts(context):
            target = self._entry(request).meta.target_per_pod
        spec = pb.MetricSpec(metricName=METRIC_NAME, targetSize=math.ceil(target), targetSizeFloat=target)
        return pb.GetMetricSpecResponse(metricSpecs=[spec])

    def GetMetrics(  # noqa: N802
        self, request: pb.GetMetricsRequest, context: grpc.ServicerContext
    ) -> pb.GetMetricsResponse:
        self.metrics.grpc_requests.labels(method="GetMetrics").inc()
        with _bad_metadata_aborts(context):
            value = self.forecast(request.scaledObjectRef)
        metric = pb.MetricValue(
            metricName=request.metricName or METRIC_NAME, metricValue=math.ceil(value), metricValueFloat=value
        )
        return pb.GetMetricsResponse(metricValues=[metric])
