"""The predictive scaler's own Prometheus metrics, served on its ``/metrics`` port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
