"""The JSON API, probes, version and OpenAPI document through Flask's test client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from sentiment_mlops import __version__
from sentiment_mlops.model import kernels
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.app import create_app

POSITIVE = "A wonderful, moving film with brilliant acting. I loved every minute of it, a true masterpiece."
NEGATIVE = "Awful. The worst movie I have ever seen: boring, badly acted, a total waste of time."


def test_predict_one_text(client: FlaskClient, model: SentimentModel) -> None:
    r = client.post("/v1/predict", json={"text": POSITIVE})
    assert r.status_code == 200
    body = r.get_json()
    assert body["model"] == {"name": "sentiment", "version": model.version}
    (pred,) = body["predictions"]
    expected = model.predict([POSITIVE])[0]
    assert pred == {"label": "positive", "probability": pytest.approx(expected.probability, abs=1e-12)}


def test_predict_batch_keeps_order_and_matches_the_model(client: FlaskClient, model: SentimentModel) -> None:
    texts = [NEGATIVE, POSITIVE, NEGATIVE + " But the ending was great."]
    r = client.post("/v1/predict", json={"texts": texts})
    assert r.status_code == 200
    got = r.get_json()["predictions"]
    want = model.predict(texts)
    assert [p["label"] for p in got] == [w.label for w in want]
    assert [p["probability"] for p in got] == pytest.approx([w.probability for w in want], abs=1e-12)
    assert got[0]["label"] == "negative" and got[1]["label"] == "positive"


def test_explain_returns_top_k_ngrams_with_signed_weights(client: FlaskClient, model: SentimentModel) -> None:
    r = client.post("/v1/predict", json={"texts": [POSITIVE, NEGATIVE], "explain": True, "top_k": 3})
    assert r.status_code == 200
    pos, neg = r.get_json()["predictions"]
    assert pos["explanation"] == model.explain(POSITIVE, top_k=3)
    assert len(pos["explanation"]) == 3
    assert sum(e["weight"] for e in pos["explanation"]) > 0 > sum(e["weight"] for e in neg["explanation"])


def test_probes_and_version(client: FlaskClient, model: SentimentModel) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"
    version = client.get("/version").get_json()
    assert version == {
        "package": __version__,
        "model": {
            "name": "sentiment",
            "version": model.version,
            "alias": "none",
            "featurizer_version": model.card["featurizer"]["version"],
        },
        "kernels": {
            "implementation": "compiled",
            "module": kernels.info().module,
            "cpu_baseline": "x86-64-v3",
            "threads": kernels.threads(),
        },
    }
    assert Path(version["kernels"]["module"]).name.startswith("_kernels.cpython-311")


def test_without_a_model_liveness_passes_and_the_rest_answers_503() -> None:
    client = create_app(None).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert client.get("/v2/health/ready").status_code == 503
    r = client.post("/v1/predict", json={"text": POSITIVE})
    assert r.status_code == 503
    assert r.get_json()["error"]["code"] == "model_not_ready"
    assert client.get("/version").status_code == 503


def test_request_id_is_echoed_or_generated(client: FlaskClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    # a header that would pollute the logs is replaced, not echoed
    hostile = client.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", hostile)


def test_openapi_documents_every_route(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    app = client.application
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in doc["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], (method, path)
    batch = doc["components"]["schemas"]["PredictRequest"]["properties"]["texts"]
    assert batch["maxItems"] == 8  # the configured limit, not a copy of the default
    assert batch["items"]["maxLength"] == 2000


CHUNKED = {"CONTENT_LENGTH": "", "wsgi.input_terminated": True}  # a body without Content-Length


@pytest.mark.parametrize(
    "body",
    [
        {"texts": [POSITIVE, NEGATIVE], "explain": True, "top_k": 2},
        {"text": ""},
        {"texts": ["x"] * 9},
        {"text": 3},
    ],
)
def test_fast_path_and_flask_route_answer_alike(client: FlaskClient, body: dict[str, object]) -> None:
    fast = client.post("/v1/predict", json=body)
    routed = client.post("/v1/predict", json=body, environ_overrides=CHUNKED)
    assert fast.status_code == routed.status_code
    assert fast.get_json() == routed.get_json()
    assert fast.headers["Content-Type"] == routed.headers["Content-Type"] == "application/json"
    assert fast.headers["X-Request-ID"] and routed.headers["X-Request-ID"]
    metrics = client.get("/metrics").get_data(as_text=True)
    labels = f'endpoint="/v1/predict",http_status="{fast.status_code}",method="POST"'
    assert f"app_request_count_total{{{labels}}} 2.0" in metrics
