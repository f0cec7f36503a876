"""Evaluate the trained model on the 25,000-review test split: the only stage that reads it.

Writes ``reports/metrics.json`` (for ``dvc metrics diff``), plot data under ``reports/plots/``
(for ``dvc plots``), PNG figures under ``reports/figures/``, and adds all of it to the MLflow run.
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

log = logging.getLogger(__name__)


def reliability(y: np.ndarray, proba: np.ndarray, bins: int) -> list[tuple[float, float, int]]:
    """Per non-empty equal-width bin of P(positive): mean confidence, share positive, reviews."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(proba, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            rows.append((float(proba[in_bin].mean()), float(y[in_bin].mean()), int(in_bin.sum())))
    return rows


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int) -> float:
    """Mean |accuracy - confidence| over equal-width bins of P(positive), weighted by bin size."""
    return float(sum(n * abs(acc - conf) for conf, acc, n in reliability(y, proba, bins)) / len(y))


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


def run(paths: Paths, params: Params, *, track: bool = True) -> dict[str, float]:
    """The ``evaluate`` stage."""
    from sentiment_mlops.data.splits import read_split

    started = time.perf_counter()
    model = SentimentModel.load(paths.model_dir)
    test = read_split(paths, "test")
    y = test["label"].to_numpy(np.int64)
    proba = model.predict_proba(test["text"].tolist())
    bins = params.evaluate.calibration_bins
    metrics = compute_metrics(y, proba, bins)
    atomic_write_json(paths.reports / "metrics.json", {k: round(v, 6) for k, v in metrics.items()})
    plot_files = write_plot_data(y, proba, bins, paths.reports / "plots")
    figures = write_figures(y, proba, bins, paths.reports / "figures")
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
