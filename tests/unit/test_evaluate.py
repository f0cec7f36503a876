"""Evaluation metrics on constructed cases, and the files the evaluate stage writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.training import slices
from sentiment_mlops.training.evaluate import compute_metrics, expected_calibration_error, write_plot_data
from tests.unit.conftest import SPLIT_REVIEWS

METRIC_KEYS = {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "ece"}


def test_ece_of_a_constructed_case() -> None:
    # bin [0.2, 0.3): 4 reviews at 0.25, 1 positive -> |0.25 - 0.25| = 0
    # bin [0.9, 1.0]: 6 reviews at 0.95, all positive -> |1.0 - 0.95| = 0.05, weight 6/10
    proba = np.array([0.25] * 4 + [0.95] * 6)
    y = np.array([1, 0, 0, 0] + [1] * 6)
    assert expected_calibration_error(y, proba, bins=10) == pytest.approx(0.6 * 0.05)


def test_ece_perfect_and_worst() -> None:
    y = np.array([0, 1] * 50)
    assert expected_calibration_error(y, y.astype(float), bins=10) == pytest.approx(0.0)
    assert expected_calibration_error(y, 1.0 - y, bins=10) == pytest.approx(1.0)
    # probabilities exactly 0.0 and 1.0 fall in the first and last bins, not outside
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0]), bins=5) == 0.0


def test_ece_depends_on_bins() -> None:
    # 0.62 and 0.78 share a bin of 5 (mean 0.7, half positive: 0.2 off) but not of 10 (0.38, 0.78 off)
    proba, y = np.array([0.62, 0.78]), np.array([1, 0])
    assert expected_calibration_error(y, proba, bins=5) == pytest.approx(0.2)
    assert expected_calibration_error(y, proba, bins=10) == pytest.approx((0.38 + 0.78) / 2)


def test_compute_metrics_on_a_known_confusion() -> None:
    # TP=3, FN=1, TN=4, FP=2
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    proba = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.1, 0.3, 0.4, 0.6, 0.95])
    m = compute_metrics(y, proba, bins=10)
    assert set(m) >= METRIC_KEYS
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    # (positive, negative) pairs ranked correctly, by hand: 5 + 5 + 5 + 2 of 4 x 6
    assert m["roc_auc"] == pytest.approx(17 / 24)
    expected_ll = -np.mean(y * np.log(proba) + (1 - y) * np.log(1 - proba))
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert m["reviews"] == 10


def test_log_loss_is_finite_for_confident_mistakes() -> None:
    m = compute_metrics(np.array([1, 0]), np.array([0.0, 1.0]), bins=10)
    assert np.isfinite(m["log_loss"]) and m["log_loss"] > 20


def test_plot_data_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    proba = np.clip(y * 0.6 + rng.normal(0.2, 0.2, 2000), 0, 1)
    files = write_plot_data(y, proba, 10, tmp_path)
    headers = {p.name: p.read_text().splitlines()[0] for p in files}
    assert headers == {
        "confusion.csv": "actual,predicted",
        "roc.csv": "fpr,tpr",
        "precision_recall.csv": "recall,precision",
        "calibration.csv": "confidence,accuracy,count",
    }
    with (tmp_path / "confusion.csv").open() as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == 2000
    assert len((tmp_path / "roc.csv").read_text().splitlines()) <= 501  # small enough for dvc plots diff
    calib = pd.read_csv(tmp_path / "calibration.csv")
    assert calib["count"].sum() == 2000


def test_evaluate_stage_outputs(small_project: Path) -> None:
    """metrics.json, plots and figures from the real evaluate stage agree with a recomputation."""
    metrics = json.loads((small_project / "reports" / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS
    assert all(isinstance(v, float) for k, v in metrics.items() if k != "slices")
    model = SentimentModel.load(small_project / "models" / "model")
    test = pd.read_parquet(small_project / "data" / "processed" / "test.parquet")
    assert len(test) == metrics["reviews"] == SPLIT_REVIEWS
    y = test["label"].to_numpy(np.int64)
    again = compute_metrics(y, model.predict_proba(test["text"].tolist()), bins=10)
    for key in METRIC_KEYS:
        assert metrics[key] == pytest.approx(again[key], abs=1e-6)
    assert 0.75 < metrics["accuracy"] < 1.0 and metrics["roc_auc"] > metrics["accuracy"] - 0.05
    for name in ("confusion.csv", "roc.csv", "precision_recall.csv", "calibration.csv", "slices.csv"):
        assert (small_project / "reports" / "plots" / name).stat().st_size > 0
    # The length slices: each cut of every test review, and whole reviews by token count.
    table = metrics["slices"]
    assert set(table) >= set(slices.CUTS)
    assert sum(table[n]["reviews"] for n, _, _ in slices.TOKEN_BUCKETS if n in table) == SPLIT_REVIEWS
    cut = slices.cut(test["text"].tolist(), "last_10_words")
    want = slices.metrics(y, model.predict_proba(cut), bins=10)
    assert table["last_10_words"] == pytest.approx(want, abs=1e-6)
    plotted = pd.read_csv(small_project / "reports" / "plots" / "slices.csv")
    assert list(plotted["slice"]) == list(table)
    for name in ("confusion_matrix.png", "roc.png", "precision_recall.png", "reliability.png"):
        assert (small_project / "reports" / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
