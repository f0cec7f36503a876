"""Train the NBSVM-family model: choose hyper-parameters on validation, refit on all of train.

The core (:mod:`~sentiment_mlops.training.nbsvm`) is pure: arrays in, weights out. :func:`run`
wraps it with the stage's I/O: read the splits, cut the snippets and the validation slices, write
the model artifact and ``reports/train.json``, and track the run in MLflow.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment_mlops.config import ConfigError, Params, Paths
from sentiment_mlops.files import atomic_write_json, file_sha256
from sentiment_mlops.model import features
from sentiment_mlops.model.artifact import SentimentModel, seen_bitmap
from sentiment_mlops.model.features import FeaturizerSpec
from sentiment_mlops.training import calibrate, slices
from sentiment_mlops.training.nbsvm import Fitted, Snippets, fit_nbsvm, search
from sentiment_mlops.training.statistics import NBStatistics

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

log = logging.getLogger(__name__)


def drift_baseline(model: SentimentModel, reviews: list[str], bins: int = 20) -> dict[str, Any]:
    """Prediction statistics on unlabelled reviews: what the live traffic is compared against."""
    scores = model.score(reviews)
    proba = model.probabilities(scores)
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


def _snippets(texts: list[str], y: np.ndarray, spec: FeaturizerSpec, seed: int) -> Snippets:
    cuts, labels = slices.augment(texts, y, seed)
    return Snippets(features.featurize(cuts, spec), labels)


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
        from sentiment_mlops import spark_session
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
        counted = spark_stats.count_splits(spark_session.get_session("sentiment-train"), paths, spec)
        X_train, y_train = counted.X_train, counted.y_train
        stats_train, stats_fit = counted.train, counted.train_and_validation
        train_texts = read_split(paths, "train")["text"].tolist()
    else:
        train_df = read_split(paths, "train")
        # Labelled files (a team's own reviews, the feedback export) train beside the archive; model
        # choice and calibration stay on the archive's validation split.
        train_df, sources = labelled.with_sources(
            train_df, params.sources.labelled, paths.root, params.split.seed
        )
        train_texts = train_df["text"].tolist()
        X_train, y_train = features.featurize(train_texts, spec), train_df["label"].to_numpy(np.int64)
    val_df = read_split(paths, "validation")
    y_val = val_df["label"].to_numpy(np.int64)
    val = calibrate.ValidationSets.build(val_df["text"].tolist(), y_val, spec)
    X_val = val.X[calibrate.WHOLE]
    augment = any(w > 0 for w in params.train.snippet_weight)
    snippets = _snippets(train_texts, y_train, spec, params.split.seed) if augment else None
    log.info(
        "featurised %d + %d reviews and their cuts in %.1fs",
        len(y_train),
        len(y_val),
        time.perf_counter() - started,
    )

    ranked = search(X_train, y_train, val, params, stats_train, snippets)
    best = ranked[0]
    log.info(
        "chosen on validation: C=%g nb_alpha=%g beta=%g snippet_weight=%g accuracy=%.4f short %.4f",
        best.C,
        best.nb_alpha,
        best.beta,
        best.snippet_weight,
        best.accuracy,
        best.short_accuracy,
    )

    def fit_best(X: csr_matrix, y: np.ndarray, stats: NBStatistics | None, cuts: Snippets | None) -> Fitted:
        return fit_nbsvm(
            X,
            y,
            C=best.C,
            nb_alpha=best.nb_alpha,
            beta=best.beta,
            min_df=params.features.min_df,
            max_iter=params.train.max_iter,
            stats=stats,
            snippets=cuts,
            snippet_weight=best.snippet_weight,
        )

    calibration = None
    if params.train.calibrate:
        # Fitted on the held-out model's validation logits, whole and cut, then kept for the refit.
        held_out = fit_best(X_train, y_train, stats_train, snippets)
        # It reads the weight sum without the regression's intercept: the refit below moves the
        # intercept (0.24 -> 0.31 in one measurement), a short input's logit is mostly intercept,
        # and the calibration multiplies it several-fold, so the refit's short inputs would lean
        # positive. The calibration's own shift and length terms carry the bias instead.
        w = held_out.weights.astype(np.float64)
        calibration = calibrate.fit_length({k: X @ w for k, X in val.X.items()}, val)
        log.info("length-aware calibration on validation: %s", calibration)

    if params.train.refit_on_full_train:
        from scipy.sparse import vstack

        X_fit, y_fit = vstack([X_train, X_val]).tocsr(), np.concatenate([y_train, y_val])
        if snippets is not None:
            more = _snippets(val_df["text"].tolist(), y_val, spec, params.split.seed + 1)
            snippets = Snippets(vstack([snippets.X, more.X]).tocsr(), np.concatenate([snippets.y, more.y]))
    else:
        X_fit, y_fit, stats_fit = X_train, y_train, stats_train
    fitted = fit_best(X_fit, y_fit, stats_fit, snippets)

    data_sha = file_sha256(paths.processed / "train.parquet", paths.processed / "validation.parquet")
    card: dict[str, Any] = {
        "name": params.registry.model_name,
        "architecture": "NB-weighted hashed n-grams + logistic regression (NBSVM family)",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": {"features": params.features.model_dump(), "train": params.train.model_dump()},
        "chosen": {
            "C": best.C,
            "nb_alpha": best.nb_alpha,
            "beta": best.beta,
            "snippet_weight": best.snippet_weight,
        },
        "training_data_sha256": data_sha,
        "training_reviews": len(y_fit),
        "sources": sources,
        "validation": {
            "accuracy": best.accuracy,
            "log_loss": best.log_loss,
            "short_accuracy": best.short_accuracy,
        },
        "calibration": calibration.to_card() if calibration else {"method": "none"},
        "weights_nonzero": int(np.count_nonzero(fitted.weights)),
        "regression_intercept": fitted.bias,
    }
    bias = fitted.bias if calibration is None else 0.0  # the calibration holds it (above)
    seen = seen_bitmap(fitted.seen_buckets, spec.n_features)
    model = SentimentModel(spec, fitted.weights, bias, seen, card)
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
