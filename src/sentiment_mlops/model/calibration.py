"""From a review's linear score to P(positive): the logistic function, optionally length-aware.

A linear n-gram model's logit grows with the number of n-grams a review holds, so one Platt
scaling fitted on long reviews is wrong for short ones. The length-aware calibration

    p = sigmoid((a + c * l) * z + b * l + d),   l = ln(1 + distinct n-grams)

rescales and shifts the logit ``z`` by the review's length. Its four numbers live in the model
card; applying it is a few scalar operations, so single-review scoring stays as fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

METHOD = "length_platt"
_SCALAR_BATCH = 8  # up to this many reviews, Python floats beat numpy's per-call overhead


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, as one ufunc call in its tanh form: stable for any logit (no overflow)
    and cheap on the small batches a service scores. Training, evaluation and serving all use it."""
    return 0.5 + 0.5 * np.tanh(0.5 * np.asarray(z, dtype=np.float64))


def sigmoid_one(z: float) -> float:
    """:func:`sigmoid` of one logit with :mod:`math`: the single-review path, no array."""
    return 0.5 + 0.5 * math.tanh(0.5 * z)


@dataclass(frozen=True)
class LengthCalibration:
    """The coefficients of ``sigmoid((a + c*l) * z + b*l + d)``."""

    scale: float  # a
    length: float  # b
    interaction: float  # c
    shift: float  # d

    def logits(self, z: np.ndarray, n_ngrams: np.ndarray) -> np.ndarray:
        """Calibrated logits of a batch."""
        ell = np.log1p(np.asarray(n_ngrams, dtype=np.float64))
        return (self.scale + self.interaction * ell) * np.asarray(z, dtype=np.float64) + (
            self.length * ell + self.shift
        )

    def probability(self, z: float, n_ngrams: int) -> float:
        """One review's calibrated P(positive), in plain floats."""
        ell = math.log1p(n_ngrams)
        return 0.5 + 0.5 * math.tanh(
            0.5 * ((self.scale + self.interaction * ell) * z + self.length * ell + self.shift)
        )

    def to_card(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "scale": self.scale,
            "length": self.length,
            "interaction": self.interaction,
            "shift": self.shift,
        }

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> LengthCalibration | None:
        """The card's calibration when it is length-aware; ``None`` when the weights hold it (plain
        Platt scaling is folded into them at training) or there is none."""
        section = card.get("calibration") or {}
        if section.get("method") != METHOD:
            return None
        try:
            return cls(*(float(section[k]) for k in ("scale", "length", "interaction", "shift")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid {METHOD} calibration in the model card: {exc}") from exc


def probabilities(
    logits: np.ndarray, n_ngrams: np.ndarray, calibration: LengthCalibration | None
) -> np.ndarray:
    """P(positive) for a batch of logits and distinct n-gram counts."""
    if calibration is None:
        return sigmoid(logits)
    if len(logits) <= _SCALAR_BATCH:
        p = calibration.probability
        return np.array([p(z, n) for z, n in zip(logits.tolist(), n_ngrams.tolist(), strict=True)])
    return sigmoid(calibration.logits(logits, n_ngrams))
