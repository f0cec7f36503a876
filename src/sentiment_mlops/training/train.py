"""Train the NBSVM-family model: choose hyper-parameters on validation, refit on all of train.

The core (:func:`fit_nbsvm`, :func:`search`) is pure: arrays in, weights out. :func:`run` wraps it
with the stage's I/O: read the splits, write the model artifact and ``reports/train.json``, and
track the run in MLflow.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment_mlops.config import ConfigError, Params, Paths
from sentiment_mlops.files import atomic_write_json, file_sha256
from sentiment_mlops.model import features
from sentiment_mlops.model.artifact import SentimentModel, seen_bitmap, sigmoid
from sentiment_mlops.model.features import FeaturizerSpec
from sentiment_mlops.training.statistics import NBStatistics

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One hyper-parameter setting and its validation scores."""

    C: float
    nb_alpha: float
    beta: float
    accuracy: float
    log_loss: float


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


def _fit_lr(A: csr_matrix, y: np.ndarray, C: float, max_iter: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    # The dual liblinear solver is fast when features far outnumber reviews, as here. It visits the
    # reviews in a random order: a fixed seed makes the same data give the same weights (and version).
    lr = LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=max_iter, random_state=0)
    lr.fit(A, y)
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
) -> Fitted:
    """Fit one model on the binarised hashed n-gram matrix ``X`` with labels ``y`` (0/1); ``stats``
    are ``X``'s :class:`NBStatistics` when an engine computed them already."""
    prep = _Prepared(X, y, min_df, stats)
    r = prep.nb_ratio(nb_alpha)
    w, bias = _fit_lr(prep.A.multiply(r).tocsr(), y, C, max_iter)
    return _expand(prep, r, _interpolate(w, beta), bias, X.shape[1])


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def search(
    X_train: csr_matrix,
    y_train: np.ndarray,
    X_val: csr_matrix,
    y_val: np.ndarray,
    params: Params,
    stats: NBStatistics | None = None,
) -> list[Candidate]:
    """Score every (C, nb_alpha, beta) of params.train on the validation split, best first."""
    tp = params.train
    prep = _Prepared(X_train, y_train, params.features.min_df, stats)
    X_val_kept = X_val[:, prep.columns].tocsr()
    results: list[Candidate] = []
    for alpha in tp.nb_alpha:
        r = prep.nb_ratio(alpha)
        A = prep.A.multiply(r).tocsr()
        B = X_val_kept.multiply(r).tocsr()
        for C in tp.C:
            started = time.perf_counter()
            w, bias = _fit_lr(A, y_train, C, tp.max_iter)
            for beta in tp.beta:
                p = sigmoid(B @ _interpolate(w, beta) + bias)
                acc = float(np.mean((p >= 0.5) == y_val))
                results.append(Candidate(C, alpha, beta, acc, _log_loss(y_val, p)))
            log.info(
                "C=%g nb_alpha=%g: best validation accuracy %.4f (%.1fs)",
                C,
                alpha,
                max(c.accuracy for c in results[-len(tp.beta) :]),
                time.perf_counter() - started,
            )
    # Highest accuracy; ties go to the lower log loss, then to the simpler (smaller C) model.
    return sorted(results, key=lambda c: (-c.accuracy, c.log_loss, c.C))


def platt_scaling(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Scale and shift (a, c) so that sigmoid(a * logit + c) is calibrated on held-out reviews.

    NB-weighted logistic regression comes out under-confident; a one-feature logistic fit on
    validation logits corrects it. Being affine, it folds into the weights at no cost in serving.
    """
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1e6, max_iter=1000).fit(logits.reshape(-1, 1), y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def drift_baseline(model: SentimentModel, reviews: list[str], bins: int = 20) -> dict[str, Any]:
    """Prediction statistics on unlabelled reviews: what the live traffic is compared against."""
    scores = model.score(reviews)
    proba = sigmoid(scores.logits)
    hist, _ = np.histogram(proba, bins=bins, range=(0.0, 1.0))
    return {
        "source": "unsup",
        "reviews": len(reviews),
        "positive_share": round(float(np.mean(proba >= 0.5)), 6),
        "mean_probability": round(float(np.mean(proba)), 6),
        "probability_histogram": (hist / max(1, len(reviews))).round(6).tolist(),
        "unseen_ngram_share": round(float(scores.n_unseen.sum() / max(1, scores.n_ngrams.sum())), 6),
        "median_tokens": float(np.median(scores.n_tokens)),
    }


def run(paths: Paths, params: Params, *, track: bool = True, engine: str = "local") -> SentimentModel:
    """The ``train`` stage: search on validation, refit, save the model, report, track in MLflow.

    ``engine="spark"`` featurises and counts the NB statistics on Spark; the fit is the same.
    """
    from sentiment_mlops.data import labelled
    from sentiment_mlops.data.splits import read_split

    started = time.perf_counter()
    spec = FeaturizerSpec(params.features.ngram_max, params.features.hash_bits, params.features.binary)
    stats_train = stats_fit = None
    sources: list[dict[str, Any]] = []
    if engine == "spark":
        from sentiment_mlops.spark import session
        from sentiment_mlops.training import spark_stats

        # The Spark engine counts the archive's splits; labelled files train on the local engine
        # (an optional source whose file is absent, such as feedback not exported yet, is no file).
        present = [
            src.name
            for src in params.sources.labelled
            if not src.optional or (paths.root / src.path).exists()
        ]
        if present:
            raise ConfigError(
                f"train --engine spark reads the IMDB splits only; labelled sources {present} "
                "train on the local engine"
            )
        counted = spark_stats.count_splits(session.get_session("sentiment-train"), paths, spec)
        X_train, y_train, X_val, y_val = counted.X_train, counted.y_train, counted.X_val, counted.y_val
        stats_train, stats_fit = counted.train, counted.train_and_validation
    else:
        train_df, val_df = read_split(paths, "train"), read_split(paths, "validation")
        # Labelled files (a team's own reviews, the feedback export) train beside the archive; model
        # choice and calibration stay on the archive's validation split.
        train_df, sources = labelled.with_sources(
            train_df, params.sources.labelled, paths.root, params.split.seed
        )
        X_train = features.featurize(train_df["text"].tolist(), spec)
        X_val = features.featurize(val_df["text"].tolist(), spec)
        y_train, y_val = train_df["label"].to_numpy(np.int64), val_df["label"].to_numpy(np.int64)
    log.info("featurised %d + %d reviews in %.1fs", len(y_train), len(y_val), time.perf_counter() - started)

    ranked = search(X_train, y_train, X_val, y_val, params, stats_train)
    best = ranked[0]
    log.info(
        "chosen on validation: C=%g nb_alpha=%g beta=%g accuracy=%.4f",
        best.C,
        best.nb_alpha,
        best.beta,
        best.accuracy,
    )

    def fit_best(X: csr_matrix, y: np.ndarray, stats: NBStatistics | None) -> Fitted:
        return fit_nbsvm(
            X,
            y,
            C=best.C,
            nb_alpha=best.nb_alpha,
            beta=best.beta,
            min_df=params.features.min_df,
            max_iter=params.train.max_iter,
            stats=stats,
        )

    scale, shift = 1.0, 0.0
    if params.train.calibrate:
        held_out = fit_best(X_train, y_train, stats_train)
        scale, shift = platt_scaling(X_val @ held_out.weights.astype(np.float64) + held_out.bias, y_val)
        log.info("Platt scaling on validation: scale %.3f, shift %.3f", scale, shift)

    if params.train.refit_on_full_train:
        from scipy.sparse import vstack

        X_fit, y_fit = vstack([X_train, X_val]).tocsr(), np.concatenate([y_train, y_val])
    else:
        X_fit, y_fit, stats_fit = X_train, y_train, stats_train
    fitted = fit_best(X_fit, y_fit, stats_fit)

    fitted.weights *= np.float32(scale)
    fitted.bias = scale * fitted.bias + shift
    data_sha = file_sha256(paths.processed / "train.parquet", paths.processed / "validation.parquet")
    card: dict[str, Any] = {
        "name": params.registry.model_name,
        "architecture": "NB-weighted hashed n-grams + logistic regression (NBSVM family)",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": {"features": params.features.model_dump(), "train": params.train.model_dump()},
        "chosen": {"C": best.C, "nb_alpha": best.nb_alpha, "beta": best.beta},
        "training_data_sha256": data_sha,
        "training_reviews": len(y_fit),
        "sources": sources,
        "validation": {"accuracy": best.accuracy, "log_loss": best.log_loss},
        "calibration": {
            "method": "platt" if params.train.calibrate else "none",
            "scale": scale,
            "shift": shift,
        },
        "weights_nonzero": int(np.count_nonzero(fitted.weights)),
    }
    model = SentimentModel(
        spec, fitted.weights, fitted.bias, seen_bitmap(fitted.seen_buckets, spec.n_features), card
    )
    model.card["version"] = hashlib.sha256(fitted.weights.tobytes()).hexdigest()[:12]
    model.card["baseline"] = drift_baseline(model, read_split(paths, "unsup")["text"].tolist())

    report = {
        "chosen": asdict(best),
        "search": [asdict(c) for c in ranked],
        "seconds": round(time.perf_counter() - started, 1),
        "weights_nonzero": card["weights_nonzero"],
        "sources": sources,
    }
    model.save(paths.model_dir)
    if track:
        from sentiment_mlops.registry import tracking

        model.card["mlflow_run_id"] = tracking.log_training(paths, params, model, report)
        model.write_card(paths.model_dir)
    atomic_write_json(paths.reports / "train.json", report)
    log.info("model %s saved to %s in %.1fs", model.version, paths.model_dir, time.perf_counter() - started)
    return model
