"""Run the predictive scaler: gRPC (``externalscaler.ExternalScaler`` and ``grpc.health.v1``),
``/metrics``, the refit schedule, and a graceful stop on SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry, start_http_server

from sentiment_mlops.autoscaling.config import AutoscalingParams
from sentiment_mlops.autoscaling.proto import externalscaler_pb2_grpc as pb_grpc
from sentiment_mlops.autoscaling.scaler import PredictiveScaler
from sentiment_mlops.autoscaling.scaler_metrics import ScalerMetrics

log = logging.getLogger(__name__)

SERVICE_NAME = "externalscaler.ExternalScaler"


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
