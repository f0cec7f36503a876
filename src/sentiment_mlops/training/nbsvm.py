"""The NBSVM-family fit and the hyper-parameter search: arrays in, weights out, no I/O.

Naive-Bayes log-count ratios scale the binary n-gram features, a logistic regression fits on them,
and its weights are interpolated towards their mean magnitude (Wang & Manning 2012). Optional
snippets cut from the training reviews (:func:`.slices.augment`) join the regression's rows with a
smaller weight: the NB statistics and ``min_df`` still count whole reviews only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment_mlops.config import Params
from sentiment_mlops.registry.gate import SHORT
from sentiment_mlops.training import calibrate
from sentiment_mlops.training.statistics import NBStatistics

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snippets:
    """Short cuts of the training reviews (featurised), their labels and their weight in the fit."""

    X: csr_matrix
    y: np.ndarray


@dataclass(frozen=True)
class Candidate:
    """One hyper-parameter setting and its validation scores (after its length calibration)."""

    C: float
    nb_alpha: float
    beta: float
    snippet_weight: float
    accuracy: float  # whole validation reviews
    log_loss: float
    short_accuracy: float  # mean over the short slices (registry.gate.SHORT: the gate's)
    slices: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Fitted:
    """Effective weights over all buckets (NB ratio folded in), bias, and the buckets seen in training."""

    weights: np.ndarray
    bias: float
    seen_buckets: np.ndarray


class _Prepared:
    """Training matrix compacted to the buckets kept by ``min_df`` (done once per search)."""

    def __init__(self, X: csr_matrix, y: np.ndarray, min_df: int, stats: NBStatistics | None = None) -> None:
        seen = np.unique(X.indices) if stats is None else stats.seen
        compact = X[:, seen].tocsc()
        stats = stats or NBStatistics.of(seen, compact, y)
        self.seen = stats.seen
        keep = stats.df >= min_df
        self.columns = self.seen[keep]
        self.A = compact[:, keep].tocsr()
        self.y = y
        self._positive, self._negative = stats.positive[keep], stats.negative[keep]

    def nb_ratio(self, alpha: float) -> np.ndarray:
        """Log-count ratio r = log((p/|p|) / (q/|q|)) with smoothing ``alpha`` (Wang & Manning 2012)."""
        p = alpha + self._positive
        q = alpha + self._negative
        return np.log((p / p.sum()) / (q / q.sum()))

    def rows(
        self, r: np.ndarray, snippets: Snippets | None
    ) -> tuple[csr_matrix, np.ndarray, csr_matrix | None]:
        """The regression's reviews scaled by ``r``, their labels, and the scaled snippets."""
        A = self.A.multiply(r).tocsr()
        return A, self.y, None if snippets is None else snippets.X[:, self.columns].multiply(r).tocsr()


def _fit_lr(
    A: csr_matrix,
    y: np.ndarray,
    C: float,
    max_iter: int,
    extra: tuple[csr_matrix, np.ndarray, float] | None = None,
) -> tuple[np.ndarray, float]:
    from scipy.sparse import vstack
    from sklearn.linear_model import LogisticRegression

    weights = None
    if extra is not None and extra[2] > 0:
        S, y_s, weight = extra
        weights = np.concatenate([np.ones(len(y)), np.full(len(y_s), weight)])
        A, y = vstack([A, S]).tocsr(), np.concatenate([y, y_s])
    # The dual liblinear solver is fast when features far outnumber reviews, as here. It visits the
    # reviews in a random order: a fixed seed makes the same data give the same weights (and version).
    lr = LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=max_iter, random_state=0)
    lr.fit(A, y, sample_weight=weights)
    return lr.coef_.ravel().astype(np.float64), float(lr.intercept_[0])


def _interpolate(w: np.ndarray, beta: float) -> np.ndarray:
    """NBSVM interpolation w' = (1 - beta) * mean|w| + beta * w (beta = 1 keeps w)."""
    return (1.0 - beta) * np.abs(w).mean() + beta * w


def _expand(prep: _Prepared, r: np.ndarray, w: np.ndarray, bias: float, n_features: int) -> Fitted:
    weights = np.zeros(n_features, dtype=np.float32)
    weights[prep.columns] = (r * w).astype(np.float32)
    return Fitted(weights, bias, prep.seen)


def fit_nbsvm(
    X: csr_matrix,
    y: np.ndarray,
    *,
    C: float,
    nb_alpha: float,
    beta: float,
    min_df: int,
    max_iter: int,
    stats: NBStatistics | None = None,
    snippets: Snippets | None = None,
    snippet_weight: float = 0.0,
) -> Fitted:
    """Fit one model on the binarised hashed n-gram matrix ``X`` with labels ``y`` (0/1); ``stats``
    are ``X``'s :class:`NBStatistics` when an engine computed them already; ``snippets`` join the
    regression with ``snippet_weight`` each."""
    prep = _Prepared(X, y, min_df, stats)
    r = prep.nb_ratio(nb_alpha)
    A, y_fit, S = prep.rows(r, snippets)
    extra = None if S is None or snippets is None else (S, snippets.y, snippet_weight)
    w, bias = _fit_lr(A, y_fit, C, max_iter, extra)
    return _expand(prep, r, _interpolate(w, beta), bias, X.shape[1])


def _score(
    tp: Any,
    C: float,
    alpha: float,
    beta: float,
    sw: float,
    z: dict[str, np.ndarray],
    val: calibrate.ValidationSets,
) -> Candidate:
    cal = calibrate.fit_length(z, val) if tp.calibrate else None
    measured = calibrate.measure(cal, z, val)
    whole = measured[calibrate.WHOLE]
    short_slices = [measured[s]["accuracy"] for s in SHORT if s in measured]
    short = float(np.mean(short_slices)) if short_slices else whole["accuracy"]
    return Candidate(
        C,
        alpha,
        beta,
        sw,
        whole["accuracy"],
        whole["log_loss"],
        short,
        {k: v for k, v in measured.items() if k != calibrate.WHOLE},
    )


def rank_key(c: Candidate, short_weight: float) -> tuple[float, float, float]:
    """Highest whole accuracy plus ``short_weight`` x the short slices' accuracy; ties to the lower
    log loss, then to the simpler (smaller C) model."""
    return (-(c.accuracy + short_weight * c.short_accuracy), c.log_loss, c.C)


def search(
    X_train: csr_matrix,
    y_train: np.ndarray,
    val: calibrate.ValidationSets,
    params: Params,
    stats: NBStatistics | None = None,
    snippets: Snippets | None = None,
) -> list[Candidate]:
    """Score every (C, nb_alpha, beta, snippet_weight) of params.train on validation, best first:
    each candidate with its own length calibration, on whole reviews and the length slices."""
    tp = params.train
    prep = _Prepared(X_train, y_train, params.features.min_df, stats)
    kept = {name: X[:, prep.columns].tocsr() for name, X in val.X.items()}
    results: list[Candidate] = []
    for alpha in tp.nb_alpha:
        r = prep.nb_ratio(alpha)
        A, y_fit, S = prep.rows(r, snippets)
        B = {name: X.multiply(r).tocsr() for name, X in kept.items()}
        for sw in tp.snippet_weight if snippets is not None else [0.0]:
            for C in tp.C:
                started = time.perf_counter()
                extra = None if S is None or snippets is None else (S, snippets.y, sw)
                w, bias = _fit_lr(A, y_fit, C, tp.max_iter, extra)
                offset = 0.0 if tp.calibrate else bias  # as the trained model scores (train.run)
                for beta in tp.beta:
                    wb = _interpolate(w, beta)
                    results.append(
                        _score(tp, C, alpha, beta, sw, {k: M @ wb + offset for k, M in B.items()}, val)
                    )
                best = max(results[-len(tp.beta) :], key=lambda c: c.accuracy)
                log.info(
                    "C=%g nb_alpha=%g snippet_weight=%g: best validation accuracy %.4f, short %.4f (%.1fs)",
                    C,
                    alpha,
                    sw,
                    best.accuracy,
                    best.short_accuracy,
                    time.perf_counter() - started,
                )
    return sorted(results, key=lambda c: rank_key(c, tp.short_weight))
