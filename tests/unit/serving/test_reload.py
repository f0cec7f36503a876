"""Model reload: a new model replaces the old one; a broken one leaves the old one serving."""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import Flask

from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.app import create_app, model_state


def _copy_with_version(src: Path, dest: Path, version: str) -> None:
    model = SentimentModel.load(src)
    model.card["version"] = version
    model.save(dest)


def test_reload_swaps_the_model_and_counts_outcomes(small_model_dir: Path, tmp_path: Path) -> None:
    live = tmp_path / "export"
    _copy_with_version(small_model_dir, live, "v-one")
    app: Flask = create_app(SentimentModel.load(live), {"MODEL_URI": str(live)})
    client = app.test_client()
    assert client.get("/version").get_json()["model"]["version"] == "v-one"

    _copy_with_version(small_model_dir, live, "v-two")
    assert model_state(app).reload() is True
    assert client.get("/version").get_json()["model"]["version"] == "v-two"
    assert client.post("/v1/predict", json={"text": "great"}).get_json()["model"]["version"] == "v-two"

    shutil.rmtree(live)
    live.mkdir()
    (live / "card.json").write_text("{not json")
    assert model_state(app).reload() is False
    assert client.get("/version").get_json()["model"]["version"] == "v-two"

    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'model_reload_total{outcome="success"} 1.0' in metrics
    assert 'model_reload_total{outcome="failure"} 1.0' in metrics
    assert 'version="v-one"} 0.0' in metrics and 'version="v-two"} 1.0' in metrics
