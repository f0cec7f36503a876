"""From a review's linear score to P(positive): the logistic function, optionally length-aware.

A linear n-gram model's logit grows with the number of n-grams a review holds, so one Platt
scaling fitted on long reviews is wrong for short ones. The length-aware calibration

    p = sigmoid((a + c*l + f*l^2) * z + (g + h*l) * t + b*l + e*l^2 + d),
    l = ln(1 + distinct n-grams),   t = z / (1 + |z|)

rescales and shifts the logit ``z`` by the review's length; the saturating term ``t`` bends the
curve where a raw logit's tails are heavier than a logistic's (short inputs with one strong
n-gram). Its numbers live in the model card; applying it is a few scalar operations, so
single-review scoring stays as fast. Cards of the first, four-number form (``e = f = g = h = 0``,
method ``length_platt``) still load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

METHOD = "length_platt_sat"
METHODS = (METHOD, "length_platt")  # the second: the four-number form, before the bend and l^2
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
    """The coefficients of the calibrated logit (module docstring); the last four default to 0."""

    scale: float  # a
    length: float  # b
    interaction: float  # c
    shift: float  # d
    length2: float = 0.0  # e
    interaction2: float = 0.0  # f
    bend: float = 0.0  # g
    bend_length: float = 0.0  # h

    def _logit(self, z: Any, ell: Any, t: Any) -> Any:
        # The one formula, for floats (one review) and numpy arrays (a batch) alike.
        return (
            (self.scale + (self.interaction + self.interaction2 * ell) * ell) * z
            + (self.bend + self.bend_length * ell) * t
            + (self.length + self.length2 * ell) * ell
            + self.shift
        )

    def logits(self, z: np.ndarray, n_ngrams: np.ndarray) -> np.ndarray:
        """Calibrated logits of a batch."""
        ell = np.log1p(np.asarray(n_ngrams, dtype=np.float64))
        z = np.asarray(z, dtype=np.float64)
        return np.asarray(self._logit(z, ell, z / (1.0 + np.abs(z))))

    def probability(self, z: float, n_ngrams: int) -> float:
        """One review's calibrated P(positive), in plain floats."""
        return 0.5 + 0.5 * math.tanh(0.5 * self._logit(z, math.log1p(n_ngrams), z / (1.0 + abs(z))))

    def to_card(self) -> dict[str, Any]:
        return {"method": METHOD} | {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> LengthCalibration | None:
        """The card's calibration when it is length-aware; ``None`` when the weights hold it (plain
        Platt scaling is folded into them at training) or there is none."""
        section = card.get("calibration") or {}
        if section.get("method") not in METHODS:
            return None
        names = [f.name for f in fields(cls)]
        required = names[:4] if section["method"] == "length_platt" else names
        try:
            return cls(**{k: float(section[k]) for k in required})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid {section['method']} calibration in the model card: {exc}") from exc


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
