"""Evaluate the trained model on the 25,000-review test split: the only stage that reads it.

Writes ``reports/metrics.json`` (for ``dvc metrics diff``; ``slices`` holds the length slices of
:mod:`~sentiment_mlops.training.slices`), plot data under ``reports/plots/`` (for ``dvc plots``), PNG
figures under ``reports/figures/``, and adds all of it to the MLflow run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_mlops.config import Params, Paths
from sentiment_mlops.files import atomic_path, atomic_write_json, atomic_write_text
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.registry.gate import SHORT
from sentiment_mlops.training import slices
from sentiment_mlops.training.slices import expected_calibration_error, reliability

__all__ = ["compute_metrics", "expected_calibration_error", "reliability", "run", "slice_metrics"]

log = logging.getLogger(__name__)


def compute_metrics(y: np.ndarray, proba: np.ndarray, bins: int) -> dict[str, float]:
    """The test metrics, keyed plainly for ``dvc metrics diff``."""
    from sklearn import metrics as skm

    pred = (proba >= 0.5).astype(int)
    return {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision": float(skm.precision_score(y, pred)),
        "recall": float(skm.recall_score(y, pred)),
        "f1": float(skm.f1_score(y, pred)),
        "roc_auc": float(skm.roc_auc_score(y, proba)),
        "log_loss": float(skm.log_loss(y, np.clip(proba, 1e-12, 1 - 1e-12))),
        "ece": expected_calibration_error(y, proba, bins),
        "reviews": float(len(y)),
    }


def _csv(dest: Path, header: str, rows: Any) -> None:
    lines = [header] + [",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row) for row in rows]
    atomic_write_text(dest, "\n".join(lines) + "\n")


def write_plot_data(y: np.ndarray, proba: np.ndarray, bins: int, folder: Path) -> list[Path]:
    """Confusion, ROC, precision-recall and reliability data as CSV, for ``dvc plots``."""
    from sklearn import metrics as skm

    pred = (proba >= 0.5).astype(int)
    names = np.array(["negative", "positive"])
    _csv(folder / "confusion.csv", "actual,predicted", zip(names[y], names[pred], strict=True))
    fpr, tpr, _ = skm.roc_curve(y, proba)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 500)).astype(int))  # small enough to diff
    _csv(folder / "roc.csv", "fpr,tpr", zip(fpr[keep].tolist(), tpr[keep].tolist(), strict=True))
    precision, recall, _ = skm.precision_recall_curve(y, proba)
    keep = np.unique(np.linspace(0, len(recall) - 1, min(len(recall), 500)).astype(int))
    _csv(
        folder / "precision_recall.csv",
        "recall,precision",
        zip(recall[keep].tolist(), precision[keep].tolist(), strict=True),
    )
    _csv(folder / "calibration.csv", "confidence,accuracy,count", reliability(y, proba, bins))
    return [folder / f for f in ("confusion.csv", "roc.csv", "precision_recall.csv", "calibration.csv")]


def write_figures(y: np.ndarray, proba: np.ndarray, bins: int, folder: Path) -> list[Path]:
    """The same four views as PNG, for people and for the MLflow UI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    folder.mkdir(parents=True, exist_ok=True)
    pred = (proba >= 0.5).astype(int)
    drawers = {
        "confusion_matrix.png": lambda ax: ConfusionMatrixDisplay.from_predictions(
            y, pred, display_labels=["negative", "positive"], ax=ax, colorbar=False
        ),
        "roc.png": lambda ax: RocCurveDisplay.from_predictions(y, proba, ax=ax, name="test"),
        "precision_recall.png": lambda ax: PrecisionRecallDisplay.from_predictions(
            y, proba, ax=ax, name="test"
        ),
        "reliability.png": lambda ax: CalibrationDisplay.from_predictions(
            y, proba, n_bins=bins, ax=ax, name="test"
        ),
    }
    written = []
    for name, draw in drawers.items():
        fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
        draw(ax)
        ax.set_title(name.removesuffix(".png").replace("_", " "))
        fig.tight_layout()
        with atomic_path(folder / name) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        written.append(folder / name)
    return written


def slice_metrics(
    model: SentimentModel, texts: list[str], y: np.ndarray, proba: np.ndarray, n_tokens: np.ndarray, bins: int
) -> dict[str, dict[str, float]]:
    """Accuracy, predicted-positive share, ECE and log loss of every length slice: each cut of the
    reviews, then the whole reviews (``proba``) bucketed by token count."""
    out = {
        name: slices.metrics(y, model.predict_proba(slices.cut(texts, name)), bins) for name in slices.CUTS
    }
    for name, low, high in slices.TOKEN_BUCKETS:
        inside = (n_tokens >= low) & (n_tokens < high)
        if inside.any():
            out[name] = slices.metrics(y[inside], proba[inside], bins)
    return out


def write_slice_plot(table: dict[str, dict[str, float]], folder: Path) -> Path:
    """One row per slice, for ``dvc plots`` (a bar per slice)."""
    rows = [
        (name, m["accuracy"], m["positive_share"], m["ece"], m["log_loss"], int(m["reviews"]))
        for name, m in table.items()
    ]
    _csv(folder / "slices.csv", "slice,accuracy,positive_share,ece,log_loss,reviews", rows)
    return folder / "slices.csv"


def run(paths: Paths, params: Params, *, track: bool = True) -> dict[str, Any]:
    """The ``evaluate`` stage."""
    from sentiment_mlops.data.splits import read_split

    started = time.perf_counter()
    model = SentimentModel.load(paths.model_dir)
    test = read_split(paths, "test")
    y = test["label"].to_numpy(np.int64)
    texts = test["text"].tolist()
    scores = model.score(texts)
    proba = model.probabilities(scores)
    bins = params.evaluate.calibration_bins
    metrics: dict[str, Any] = compute_metrics(y, proba, bins)
    table = slice_metrics(model, texts, y, proba, scores.n_tokens, bins)
    metrics["slices"] = table
    rounded = {k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}
    rounded["slices"] = {n: {k: round(v, 6) for k, v in m.items()} for n, m in table.items()}
    atomic_write_json(paths.reports / "metrics.json", rounded)
    plot_files = write_plot_data(y, proba, bins, paths.reports / "plots")
    plot_files.append(write_slice_plot(table, paths.reports / "plots"))
    figures = write_figures(y, proba, bins, paths.reports / "figures")
    for name in SHORT:
        log.info(
            "slice %s: accuracy %.4f, positive share %.3f, ECE %.3f",
            name,
            table[name]["accuracy"],
            table[name]["positive_share"],
            table[name]["ece"],
        )
    log.info(
        "test accuracy %.4f, ROC AUC %.4f (%d reviews, %.1fs)",
        metrics["accuracy"],
        metrics["roc_auc"],
        len(y),
        time.perf_counter() - started,
    )
    run_id = model.card.get("mlflow_run_id")
    if track and run_id:
        from sentiment_mlops.registry import tracking

        tracking.log_evaluation(
            paths, str(run_id), metrics, [*plot_files, *figures, paths.reports / "metrics.json"]
        )
    return metrics
