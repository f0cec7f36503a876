"""The sizing the simulator's tests share: pods of 400 SRE/s at 70 % (a target of 280), 2 to 20 pods."""

from __future__ import annotations

import numpy as np

from sentiment_mlops.autoscaling.config import AutoscalingParams

TARGET = 280.0


def params(**overrides: object) -> AutoscalingParams:
    base = {"pod_capacity_rps": 400, "target_utilisation": 0.7, "min_replicas": 2, "max_replicas": 20}
    return AutoscalingParams.model_validate({**base, **overrides})


def per_minute(replicas: np.ndarray) -> np.ndarray:
    """The replicas at the end of each minute (four 15 s syncs a minute)."""
    return replicas.reshape(-1, 4)[:, -1]
