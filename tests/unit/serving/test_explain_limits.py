"""Explained requests have their own, smaller bounds: an explanation runs the Python tokenizer
(about 0.1 s per 50,000 characters), so the scoring limits let one 4 MiB request pin a worker
for seconds. bench/bench_explain.py measures the worst case under both."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.app import create_app
from sentiment_mlops.serving.schemas import Limits

LIMITS = Limits()
REVIEW = "A moving, beautifully acted film; the plot drags a little in the middle. "


@pytest.fixture
def default_app(model: SentimentModel) -> Flask:
    return create_app(model)  # the limits a deployment gets unless its environment says otherwise


@pytest.fixture
def client(default_app: Flask) -> FlaskClient:
    return default_app.test_client()


def _text(chars: int) -> str:
    return (REVIEW * (chars // len(REVIEW) + 1))[:chars]


def test_the_explain_limits_are_smaller_than_the_scoring_limits() -> None:
    assert LIMITS.max_explain_texts < LIMITS.max_texts
    assert LIMITS.max_explain_chars < LIMITS.max_chars


@pytest.mark.parametrize(
    ("texts", "chars"),
    [
        (LIMITS.max_explain_texts + 1, 200),  # too many texts to explain
        (1, LIMITS.max_explain_chars + 1),  # one text too long to explain
        # The worst case the scoring limits admit: 4 MiB of 50,000-character texts (83 of them),
        # all explained; before the explain limits this was a 200 after seconds of one worker.
        (LIMITS.max_body_bytes // (LIMITS.max_chars + 16), LIMITS.max_chars),
    ],
    ids=["texts", "chars", "worst-case-before"],
)
def test_an_explained_request_over_the_explain_limits_is_413(
    client: FlaskClient, texts: int, chars: int
) -> None:
    body = {"texts": [_text(chars)] * texts}
    r = client.post("/v1/predict", json={**body, "explain": True})
    assert r.status_code == 413, r.get_data(as_text=True)[:300]
    error = r.get_json()["error"]
    assert error["code"] == "payload_too_large" and "to explain" in error["message"]
    # The same texts, only scored, are within the scoring limits.
    scored = client.post("/v1/predict", json=body)
    assert scored.status_code == 200
    assert "explanation" not in scored.get_json()["predictions"][0]


def test_at_the_explain_limits_every_text_is_explained(client: FlaskClient) -> None:
    texts = [_text(LIMITS.max_explain_chars)] * LIMITS.max_explain_texts
    r = client.post("/v1/predict", json={"texts": texts, "explain": True, "top_k": 3})
    assert r.status_code == 200
    assert all(len(p["explanation"]) == 3 for p in r.get_json()["predictions"])


def test_the_page_explains_within_the_explain_limit(client: FlaskClient) -> None:
    assert client.post("/predict", data={"text": _text(LIMITS.max_explain_chars)}).status_code == 200
    r = client.post("/predict", data={"text": _text(LIMITS.max_explain_chars + 1)})
    assert r.status_code == 413
    assert "to explain" in r.get_data(as_text=True)


def test_the_limits_come_from_the_configuration(model: SentimentModel) -> None:
    client = create_app(model, {"MAX_EXPLAIN_TEXTS": 2, "MAX_EXPLAIN_CHARS": 100}).test_client()
    assert client.post("/v1/predict", json={"texts": ["good"] * 3, "explain": True}).status_code == 413
    assert client.post("/v1/predict", json={"text": _text(101), "explain": True}).status_code == 413
    assert client.post("/v1/predict", json={"texts": [_text(100)] * 2, "explain": True}).status_code == 200


def test_the_openapi_document_states_the_explain_limits(client: FlaskClient) -> None:
    text = client.get("/openapi.json").get_data(as_text=True)
    assert f"at most {LIMITS.max_explain_texts} texts of {LIMITS.max_explain_chars} characters" in text
