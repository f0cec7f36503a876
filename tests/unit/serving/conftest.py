"""Fixtures for the API's unit tests: the real small model, an app around it, its test client."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.app import create_app


@pytest.fixture(scope="session")
def model(small_model_dir: Path) -> SentimentModel:
    return SentimentModel.load(small_model_dir)


@pytest.fixture
def app(model: SentimentModel, small_model_dir: Path) -> Flask:
    return create_app(model, {"MODEL_URI": str(small_model_dir), "MAX_TEXTS": 8, "MAX_CHARS": 2000})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
