"""Fit the length-aware calibration (:mod:`sentiment_mlops.model.calibration`) on validation.

The validation reviews are scored whole and cut into every length slice of
:mod:`~sentiment_mlops.training.slices`; one logistic fit on ``[z, l, z*l, l^2, z*l^2, t, t*l]``
(``t = z / (1 + |z|)``) over all of them gives its
numbers, so a ten-word snippet and a 500-word review are both calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sentiment_mlops.model import features
from sentiment_mlops.model.calibration import LengthCalibration, sigmoid
from sentiment_mlops.training import slices

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from sentiment_mlops.model.features import FeaturizerSpec

WHOLE = "whole"


@dataclass(frozen=True)
class ValidationSets:
    """Validation labels and features of the whole reviews and of each slice, featurised once."""

    y: np.ndarray
    X: dict[str, csr_matrix]  # WHOLE and every name of slices.CUTS

    @classmethod
    def build(cls, texts: list[str], y: np.ndarray, spec: FeaturizerSpec) -> ValidationSets:
        sets = {WHOLE: texts} | {name: slices.cut(texts, name) for name in slices.CUTS}
        return cls(np.asarray(y), {name: features.featurize(t, spec) for name, t in sets.items()})

    def n_ngrams(self, name: str) -> np.ndarray:
        """Distinct hashed n-grams per review (binary rows: the stored entries), as scoring counts them."""
        return np.diff(self.X[name].indptr)


def design(z: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """The calibration's columns: the coefficients a, b, c, e, f, g, h of :class:`LengthCalibration`."""
    t = z / (1.0 + np.abs(z))
    return np.column_stack([z, ell, z * ell, ell * ell, z * ell * ell, t, t * ell])


def fit_length(z: dict[str, np.ndarray], val: ValidationSets) -> LengthCalibration:
    """The calibration fitted on the logits ``z`` of every set of ``val`` at once."""
    from sklearn.linear_model import LogisticRegression

    zs = np.concatenate([z[name] for name in val.X])
    ell = np.log1p(np.concatenate([val.n_ngrams(name) for name in val.X]).astype(np.float64))
    y = np.concatenate([val.y] * len(val.X))
    F = design(zs, ell)
    # Standardised columns (l^2 and z*l^2 run to hundreds) let the solver converge; the
    # coefficients are mapped back to the raw columns, which is what scoring computes.
    mean, sd = F.mean(axis=0), F.std(axis=0)
    sd[sd == 0] = 1.0
    fit = LogisticRegression(C=1e6, max_iter=10000).fit((F - mean) / sd, y)
    coef = fit.coef_[0] / sd
    a, b, c, e, f, g, h = (float(v) for v in coef)
    d = float(fit.intercept_[0] - coef @ mean)
    return LengthCalibration(a, b, c, d, length2=e, interaction2=f, bend=g, bend_length=h)


def measure(
    cal: LengthCalibration | None, z: dict[str, np.ndarray], val: ValidationSets, bins: int = 10
) -> dict[str, dict[str, float]]:
    """Slice metrics of every set under ``cal`` (``None``: the plain logistic function)."""
    out = {}
    for name in val.X:
        logits = z[name] if cal is None else cal.logits(z[name], val.n_ngrams(name))
        out[name] = slices.metrics(val.y, sigmoid(logits), bins)
    return out
