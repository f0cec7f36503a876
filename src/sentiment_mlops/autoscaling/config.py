"""Typed ``autoscaling:`` section of params.yaml and the measured per-pod capacity."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sentiment_mlops.config import ConfigError, Paths, load_params

log = logging.getLogger(__name__)


class AutoscalingParams(BaseModel):
    """The simulated Deployment, the HPA/KEDA model and the forecaster's settings.

    params.yaml is the source of every value. The defaults below apply only where no params.yaml
    is found (the scaler then falls back to them); a test keeps them equal to params.yaml, and
    another keeps the deployed ScaledObject's numbers equal to what these parameters derive.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Scaling is on scoring work, in single-review equivalents (SRE): a request costs
    # request_cost, each review in it review_cost, so a one-review request is 1 SRE and a
    # 100-review batch about 17 (reports/bench/serve-capacity.json: rps against batch_rps; see
    # measured_costs). KEDA's query weighs the request and review counters the same way.
    request_cost: float = Field(0.836, ge=0)
    review_cost: float = Field(0.164, gt=0)
    # Capacity: one pod (2 workers, one core) does this many SRE/s, budgeted from the serving
    # benchmark (single-review requests/s, key "rps"; one such request is one SRE).
    pod_capacity_rps: float = Field(2000.0, gt=0)
    target_utilisation: float = Field(0.7, gt=0, le=1)
    # The predictive trigger provisions for an upper quantile, which already holds the
    # headroom for noise, so its per-pod target may sit closer to capacity.
    predictive_target_utilisation: float = Field(0.9, gt=0, le=1)
    # The demand, independent of any target: the trace is scaled so its busiest minute is this
    # many pods' full capacity. (Scaling it by a target would move the demand with the target
    # and hide the trade-off between headroom and cost.)
    peak_demand_pods: float = Field(11.2, gt=0)
    # Reviews per request in the trace (the NASA trace counts requests only): its requests are
    # read as this much scoring work each, request_cost + review_cost * reviews_per_request.
    reviews_per_request: float = Field(1.0, ge=1)
    # Reactive targets swept at the same demand, to compare policies at equal replica-hours.
    sweep_target_utilisations: list[float] = Field(
        default_factory=lambda: [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85]
    )
    # KEDA's fallback and the scaler outage the simulator replays in the busiest hour.
    polling_interval_s: int = Field(15, ge=1)
    fallback_failure_threshold: int = Field(3, ge=1)
    fallback_replicas: int = Field(6, ge=1)
    fallback_behavior: str = Field("currentReplicasIfHigher", pattern="^(static|currentReplicasIfHigher)$")
    scaler_outage_minutes: int = Field(60, ge=1)
    min_replicas: int = Field(2, ge=1)
    max_replicas: int = Field(20, ge=1)
    # HPA / KEDA model.
    startup_delay_s: int = Field(90, ge=0)
    sync_period_s: int = Field(15, ge=1)
    tolerance: float = Field(0.1, ge=0, lt=1)
    scale_down_stabilisation_s: int = Field(300, ge=0)
    scale_down_percent: float = Field(25.0, gt=0, le=100)
    scale_down_period_s: int = Field(60, ge=1)
    # Forecaster.
    horizon_minutes: int = Field(5, ge=1, le=360)
    quantile: float = Field(0.9, gt=0.5, lt=1)
    bucket_minutes: int = Field(5, ge=1, le=60)
    season_minutes: int = Field(1440, ge=60)
    fit_window_days: float = Field(7.0, gt=0)
    min_history_days: float = Field(2.0, gt=0)
    refit_minutes: int = Field(60, ge=1)
    level_window_minutes: int = Field(15, ge=1)
    # Days at the start of a trace on which the knobs above were chosen; reported apart.
    tuning_days: float = Field(21.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> AutoscalingParams:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        if self.season_minutes % self.bucket_minutes:
            raise ValueError("season_minutes must be a multiple of bucket_minutes")
        if self.min_history_days > self.fit_window_days:
            raise ValueError("min_history_days must not exceed fit_window_days")
        return self

    @property
    def target_rps_per_pod(self) -> float:
        """The per-pod scoring work (SRE/s) KEDA aims for (``AverageValue`` target)."""
        return self.pod_capacity_rps * self.target_utilisation

    @property
    def work_per_request(self) -> float:
        """Scoring work (SRE) of one request of the trace."""
        return self.request_cost + self.review_cost * self.reviews_per_request

    @property
    def predictive_target_rps_per_pod(self) -> float:
        """Per-pod target of the predictive (external) trigger."""
        return self.pod_capacity_rps * self.predictive_target_utilisation

    @property
    def min_history_minutes(self) -> int:
        return math.ceil(self.min_history_days * 1440)

    @property
    def fit_window_minutes(self) -> int:
        return math.ceil(self.fit_window_days * 1440)


#: The scoring routes: the JSON API, the web form and the Open Inference Protocol's infer.
SCORING_ENDPOINTS = "/v1/predict|/predict|/v2/models/.+/infer"


def scoring_work_query(cfg: AutoscalingParams, window: str = "1m", job: str = "sentiment-api") -> str:
    """PromQL for the scoring work in SRE/s: requests and reviews weighted by their cost.

    The KEDA triggers, the predictive scaler's default and the recording rule
    ``sentiment:scoring_work:rate1m`` are this expression (tests hold them to it).
    """
    requests = f'sum(rate(app_request_count_total{{job="{job}",endpoint=~"{SCORING_ENDPOINTS}"}}[{window}]))'
    reviews = f'sum(rate(model_prediction_count_total{{job="{job}"}}[{window}]))'
    return f"{requests} * {cfg.request_cost:g} + {reviews} * {cfg.review_cost:g}"


def measured_costs(bench_file: Path) -> tuple[float, float]:
    """(request_cost, review_cost) from the serving benchmark: single requests against batches.

    A single-review request takes 1/rps, a batch of n reviews 1/batch_rps (same server, same
    workers): solving request + review = 1 and request + n * review = rps / batch_rps, in SRE.
    """
    bench = json.loads(bench_file.read_text(encoding="utf-8"))
    ratio = float(bench["rps"]) / float(bench["batch_rps"])
    n = float(bench["batch_size"])
    review = (ratio - 1) / (n - 1)
    return 1 - review, review


def parse_autoscaling(raw: dict[str, Any]) -> AutoscalingParams:
    """Validate the raw ``autoscaling:`` mapping; raise :class:`ConfigError` naming the bad key."""
    try:
        return AutoscalingParams.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"autoscaling.{'.'.join(str(p) for p in err['loc']) or '(section)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid autoscaling parameters: {problems}") from exc


#: The serving benchmark the pod budget and the scoring-work costs were sized from: the run on a
#: quiet machine (load 2.5), kept apart from reports/bench/serve.json, which later runs rewrite.
SIZING_BENCH = "serve-capacity.json"


def measured_capacity(bench_file: Path) -> float | None:
    """The serving benchmark's single-pod throughput (``rps``), or None when not measured yet."""
    if not bench_file.is_file():
        return None
    try:
        rps = float(json.loads(bench_file.read_text(encoding="utf-8"))["rps"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{bench_file} has no numeric 'rps': {exc}") from exc
    if not rps > 0:
        raise ConfigError(f"{bench_file}: rps must be positive, got {rps}")
    return rps


def load_autoscaling(paths: Paths | None = None) -> AutoscalingParams:
    """params.yaml's ``autoscaling:`` section, with the benchmarked capacity when it exists."""
    paths = paths or Paths()
    params = parse_autoscaling(load_params(paths.params_file).autoscaling)
    # params.yaml is authoritative: the benchmark's machine is not a pod (its CPU limit differs),
    # and the deployed trigger targets are derived from the budgeted figure. A budget above what
    # was measured is a mistake worth a warning.
    rps = measured_capacity(paths.reports / "bench" / SIZING_BENCH)
    if rps is not None and params.pod_capacity_rps > rps:
        log.warning("pod_capacity_rps %.0f exceeds the benchmarked %.0f req/s", params.pod_capacity_rps, rps)
    return params
