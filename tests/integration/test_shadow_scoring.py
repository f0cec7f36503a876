"""Shadow scoring on a real gunicorn: a known-different challenger (a real model trained on 60
reviews) shadows the champion while labelled IMDB test reviews are replayed, and
``sentiment shadow report`` on the prediction log gives the agreement and the accuracy per model
that a direct offline computation on the same texts gives. The shadow comes in through
``SENTIMENT_SHADOW_MODEL_URI`` in gunicorn's environment, as in the container.

The committed figure is this test's report: ``reports/shadow/report.json`` (pytest -s prints it;
``SENTIMENT_SHADOW_REPORT`` names a copy to write).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from sentiment_mlops.model.artifact import SentimentModel
from tests.integration.serving_server import ApiServer
from tests.integration.weak_model import train_weak_project

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
REVIEWS = 400
LABEL_EVERY = 3  # two reviews in three get their label back: the labelled part


@pytest.fixture(scope="module")
def weak_project(small_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_weak_project(small_project, tmp_path_factory.mktemp("weak-shadow"))


def replay(server: ApiServer, reviews: pd.DataFrame) -> tuple[list[str], list[str], list[int]]:
    """One review per request; the true label of every LABEL_EVERY-th answer but one sent back.
    Returns the texts, their prediction ids and which of them were labelled (indices)."""
    session = requests.Session()
    ids, labelled, pending = [], [], []
    for i, (text, label) in enumerate(zip(reviews.text, reviews.label, strict=True)):
        r = session.post(f"{server.url}/v1/predict", json={"text": text}, timeout=10)
        assert r.status_code == 200, r.text
        (prediction,) = r.json()["predictions"]
        ids.append(prediction["id"])
        if i % LABEL_EVERY:
            labelled.append(i)
            pending.append({"id": prediction["id"], "label": "positive" if label == 1 else "negative"})
        if len(pending) == 50 or i == len(reviews) - 1:
            assert session.post(f"{server.url}/v1/feedback", json={"feedback": pending}, timeout=10).ok
            pending = []
    return list(reviews.text), ids, labelled


def offline(
    champion: SentimentModel, shadow: SentimentModel, texts: list[str], y: np.ndarray, labelled: list[int]
) -> dict:
    """The same figures, computed directly from the two models on the same texts."""
    c = champion.predict_proba(texts) >= 0.5
    s = shadow.predict_proba(texts) >= 0.5
    yl = y[labelled] == 1
    return {
        "agreement": float(np.mean(c == s)),
        "champion_positive_share": float(c.mean()),
        "shadow_positive_share": float(s.mean()),
        "champion_accuracy": float(np.mean(c[labelled] == yl)),
        "shadow_accuracy": float(np.mean(s[labelled] == yl)),
    }


def _metric_sum(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_the_shadow_report_matches_an_offline_computation(
    small_project: Path, small_model_dir: Path, weak_project: Path, tmp_path: Path
) -> None:
    weak_dir = weak_project / "models" / "model"
    reviews = pd.read_parquet(small_project / "data" / "processed" / "test.parquet").sample(
        n=REVIEWS, random_state=15
    )
    server = ApiServer(small_model_dir, tmp_path / "api", workers=2, SENTIMENT_SHADOW_MODEL_URI=str(weak_dir))
    with server:
        texts, ids, labelled = replay(server, reviews)
        metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    # stopped: every worker flushed its prediction log (SIGTERM)
    out = tmp_path / "report.json"
    result = subprocess.run(
        [str(BIN / "sentiment"), "shadow", "report", "--log", str(server.prediction_log), "--out", str(out)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    direct = offline(
        SentimentModel.load(small_model_dir),
        SentimentModel.load(weak_dir),
        texts,
        reviews.label.to_numpy(),
        labelled,
    )
    report["offline"] = {k: round(v, 6) for k, v in direct.items()}
    report["log"] = "<the replay's prediction log>"
    if os.environ.get("SENTIMENT_SHADOW_REPORT"):
        Path(os.environ["SENTIMENT_SHADOW_REPORT"]).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))  # the figure (pytest -s)

    assert report["pairs"] == REVIEWS and report["labelled"] == len(labelled)
    assert report["agreement"] == pytest.approx(direct["agreement"], abs=1e-6)
    models = report["models"]
    for role in ("champion", "shadow"):
        assert models[role]["accuracy"] == pytest.approx(direct[f"{role}_accuracy"], abs=1e-6)
        assert models[role]["positive_share"] == pytest.approx(direct[f"{role}_positive_share"], abs=1e-6)
    assert direct["agreement"] < 0.95  # a known-different challenger
    assert report["accuracy_difference"] < -0.03  # ... and a worse one, on the labelled part
    # the live counters saw the same pairs
    assert _metric_sum(metrics, "model_shadow_agreement_total{") == REVIEWS
    assert _metric_sum(metrics, 'model_shadow_agreement_total{agree="false"}') == report["disagreements"]
    assert _metric_sum(metrics, 'model_shadow_errors_total{stage="score"}') == 0
    assert set(ids) and all(i.count(".") >= 3 for i in ids)

    gate = ["--max-accuracy-drop", "0.02"]
    gated = subprocess.run(
        [str(BIN / "sentiment"), "shadow", "report", "--log", str(server.prediction_log), *gate],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert gated.returncode == 2 and "fails the gate" in gated.stderr
