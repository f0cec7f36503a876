"""The Open Inference Protocol v2 endpoints (JSON tensors)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from sentiment_mlops.model.artifact import SentimentModel

TEXTS = ["A wonderful film, I loved it.", "Boring and awful, a waste of time."]


def _infer(client: FlaskClient, body: Any, **kw: Any) -> Any:
    return client.post("/v2/models/sentiment/infer", data=json.dumps(body), **kw)


def _request(data: Any, shape: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    tensor = {"name": "text", "datatype": "BYTES", "shape": shape or [len(data)], "data": data}
    return {"inputs": [tensor], **extra}


def test_health_and_metadata(client: FlaskClient, model: SentimentModel) -> None:
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    meta = client.get("/v2/models/sentiment").get_json()
    assert meta["name"] == "sentiment" and meta["versions"] == [model.version]
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert {o["name"]: o["datatype"] for o in meta["outputs"]} == {
        "label": "BYTES",
        "probability": "FP32",
        "id": "BYTES",
    }
    assert client.get("/v2/models/sentiment/ready").get_json() == {"name": "sentiment", "ready": True}
    assert client.get(f"/v2/models/sentiment/versions/{model.version}/ready").status_code == 200
    assert client.get("/v2").get_json()["name"] == "sentiment-mlops"


def test_infer_matches_the_model(client: FlaskClient, model: SentimentModel) -> None:
    r = _infer(client, _request(TEXTS, id="req-7"), content_type="application/json")
    assert r.status_code == 200
    body = r.get_json()
    assert (
        body["id"] == "req-7" and body["model_name"] == "sentiment" and body["model_version"] == model.version
    )
    outputs = {o["name"]: o for o in body["outputs"]}
    want = model.predict(TEXTS)
    assert outputs["label"] == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [2],
        "data": [w.label for w in want],
    }
    assert outputs["probability"]["datatype"] == "FP32"
    assert outputs["probability"]["data"] == pytest.approx([w.probability for w in want])


def test_infer_accepts_no_content_type_nested_data_and_selected_outputs(client: FlaskClient) -> None:
    body = _request([[t] for t in TEXTS], shape=[2, 1], outputs=[{"name": "probability"}])
    r = _infer(client, body)  # tritonclient sends no Content-Type
    assert r.status_code == 200
    assert [o["name"] for o in r.get_json()["outputs"]] == ["probability"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"inputs": []}, "inputs"),
        ({"inputs": [{"name": "text", "datatype": "FP32", "shape": [1], "data": ["x"]}]}, "BYTES"),
        ({"inputs": [{"name": "review", "datatype": "BYTES", "shape": [1], "data": ["x"]}]}, "named 'text'"),
        (_request(["a", "b"], shape=[3]), "shape"),
        (_request(["a"], shape=[1, 2]), "shape"),
        (_request([1, 2]), "string"),
        (_request([""]), "empty"),
        (_request(["a"], outputs=[{"name": "logits"}]), "unknown output"),
        (_request(["a"], outputs=[{"name": "label", "parameters": {"binary_data": True}}]), "binary_data"),
        ({"inputs": "text"}, "inputs"),
    ],
)
def test_invalid_infer_requests_are_422(client: FlaskClient, body: Any, fragment: str) -> None:
    r = _infer(client, body, content_type="application/json")
    assert r.status_code == 422, r.get_json()
    assert fragment in r.get_json()["error"]["message"]


def test_unknown_model_or_version_is_404(client: FlaskClient) -> None:
    assert _infer(client, _request(["a"]), content_type="application/json").status_code == 200
    r = client.post("/v2/models/other/infer", json=_request(["a"]))
    assert r.status_code == 404 and "unknown model 'other'" in r.get_json()["error"]["message"]
    assert client.get("/v2/models/other").status_code == 404
    assert client.get("/v2/models/sentiment/versions/nope").status_code == 404


def test_binary_tensors_and_other_content_types_are_refused(client: FlaskClient) -> None:
    r = _infer(client, _request(["a"]), headers={"Inference-Header-Content-Length": "10"})
    assert r.status_code == 422 and "binary" in r.get_json()["error"]["message"]
    assert _infer(client, _request(["a"]), content_type="text/plain").status_code == 415
