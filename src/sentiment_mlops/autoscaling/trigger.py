"""A ScaledObject's external trigger for the predictive scaler: its metadata, validated over defaults.

Trigger metadata (all strings): ``serverAddress`` (Prometheus URL; ``$PROMETHEUS_URL`` if absent),
``query`` (one series; default: the scoring work in single-review equivalents/s,
:func:`.config.scoring_work_query`), ``step`` (seconds, default 60), ``horizon`` (minutes),
``quantile``, ``targetPerPod`` (in the query's unit), ``historyDays``, ``refitMinutes``,
``activationThreshold`` (default 0), ``streamIntervalSeconds`` (default 30).
"""

from __future__ import annotations

import math
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sentiment_mlops.autoscaling.config import AutoscalingParams, scoring_work_query
from sentiment_mlops.autoscaling.forecaster import ForecastSettings

METRIC_NAME = "predicted_request_rate"


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


def forecast_settings(meta: TriggerMetadata, cfg: AutoscalingParams) -> ForecastSettings:
    """The forecaster's settings in the trigger's steps (``step`` seconds each)."""
    per_min = 60.0 / meta.step
    bucket = max(1, round(cfg.bucket_minutes * per_min))
    season = round(cfg.season_minutes * per_min)
    season -= season % bucket
    return ForecastSettings(
        season=season,
        bucket=bucket,
        window=int(meta.history_days * 1440 * per_min),
        min_history=int(cfg.min_history_days * 1440 * per_min),
        level_window=max(1, round(cfg.level_window_minutes * per_min)),
        quantile=meta.quantile,
        ahead=math.ceil(2 * meta.refit_minutes * per_min),  # survives one missed refit
    )
