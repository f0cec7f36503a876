"""The API under real gunicorn (2 workers) on loopback, over real HTTP: every endpoint, every kind of
malformed input, a standard KServe v2 client, and a graceful stop."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from sentiment_mlops.model.artifact import SentimentModel
from tests.integration.serving_server import ApiServer

pytestmark = pytest.mark.integration

POSITIVE = "A wonderful, moving film with brilliant acting. I loved every minute of it."
NEGATIVE = "Awful. The worst movie I have ever seen: boring, badly acted, a total waste of time."


@pytest.fixture(scope="module")
def server(small_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(small_model_dir, tmp_path_factory.mktemp("api")) as srv:
        yield srv


@pytest.fixture(scope="module")
def model(small_model_dir: Path) -> SentimentModel:
    return SentimentModel.load(small_model_dir)


def test_predict_single_and_batch(server: ApiServer, model: SentimentModel) -> None:
    r = requests.post(f"{server.url}/v1/predict", json={"text": POSITIVE}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json()["predictions"][0]["label"] == "positive"
    texts = [POSITIVE, NEGATIVE] * 50
    body = requests.post(f"{server.url}/v1/predict", json={"texts": texts}, timeout=10).json()
    assert [p["label"] for p in body["predictions"]] == [p.label for p in model.predict(texts)]
    assert body["model"]["version"] == model.version
    # explained requests have their own, smaller bound on the number of texts (8 by default)
    explained = [POSITIVE, NEGATIVE] * 4
    r = requests.post(
        f"{server.url}/v1/predict", json={"texts": explained, "explain": True, "top_k": 2}, timeout=10
    )
    assert r.status_code == 200, r.text
    assert r.json()["predictions"][1]["explanation"] == model.explain(NEGATIVE, top_k=2)


def test_probes_version_metrics_openapi_page(server: ApiServer, model: SentimentModel) -> None:
    get = lambda path: requests.get(server.url + path, timeout=10)  # noqa: E731
    assert get("/healthz").json() == {"status": "ok"}
    assert get("/readyz").status_code == 200
    assert get("/version").json()["model"]["version"] == model.version
    assert "app_request_count_total" in get("/metrics").text
    assert get("/openapi.json").json()["openapi"] == "3.1.0"
    assert '<form method="post" action="/predict">' in get("/").text
    assert get("/v2/health/live").status_code == 200 and get("/v2/health/ready").status_code == 200
    assert get("/v2/models/sentiment").json()["versions"] == [model.version]
    assert get("/v2/models/sentiment/ready").json()["ready"] is True
    page = requests.post(f"{server.url}/predict", data={"text": NEGATIVE}, timeout=10)
    assert page.status_code == 200 and 'class="label-negative">negative<' in page.text


def test_request_id_round_trip(server: ApiServer) -> None:
    r = requests.get(f"{server.url}/healthz", headers={"X-Request-ID": "trace-42"}, timeout=10)
    assert r.headers["X-Request-ID"] == "trace-42"
    assert '"request_id": "trace-42"' in server.log()


MALFORMED = {
    "invalid utf-8": (b'{"text": "\xff\xfe bad bytes"}', 400),
    "not json": (b"{'text': 'single quotes'}", 400),
    "nested 100k deep": (b"[" * 100_000 + b"]" * 100_000, 400),
    "nested objects 100k deep": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400),
    "NaN": (b'{"text": NaN}', 422),
    "Infinity": (b'{"texts": [Infinity]}', 422),
    "wrong type": (b'{"text": ["a list"]}', 422),
    "wrong item type": (b'{"texts": ["ok", {"x": 1}]}', 422),
    "bool for int": (b'{"text": "ok", "top_k": true}', 422),
    "empty list": (b'{"texts": []}', 422),
    "empty text": (b'{"text": ""}', 422),
    "list too long": (json.dumps({"texts": ["good"] * 257}).encode(), 413),
    "text too long": (json.dumps({"text": "good " * 10_001}).encode(), 413),
    "10 MB body": (b'{"text": "' + b"a" * (10 * 1024 * 1024) + b'"}', 413),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input_gets_a_json_4xx(server: ApiServer, case: str) -> None:
    body, status = MALFORMED[case]
    r = requests.post(
        f"{server.url}/v1/predict", data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert r.status_code == status, r.text[:300]
    err = r.json()["error"]
    assert err["code"] and err["message"]


def _chunked(body: bytes) -> Iterator[bytes]:
    """A body sent with ``Transfer-Encoding: chunked`` (requests does so for a generator)."""
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]


@pytest.mark.parametrize("case", list(MALFORMED))
def test_every_error_is_the_same_bytes_with_and_without_a_content_length(
    server: ApiServer, case: str
) -> None:
    """gunicorn hands a sized body to the fast path and a chunked one to the Flask route."""
    body, status = MALFORMED[case]
    headers = {"Content-Type": "application/json"}
    sized = requests.post(f"{server.url}/v1/predict", data=body, headers=headers, timeout=30)
    chunked = requests.post(f"{server.url}/v1/predict", data=_chunked(body), headers=headers, timeout=30)
    assert sized.status_code == chunked.status_code == status
    assert sized.content == chunked.content
    assert sized.headers["Content-Type"] == chunked.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("case", ["invalid utf-8", "not json", "nested 100k deep", "NaN", "10 MB body"])
def test_v2_infer_and_v1_predict_refuse_a_body_with_the_same_bytes(server: ApiServer, case: str) -> None:
    body, status = MALFORMED[case]
    headers = {"Content-Type": "application/json"}
    v1 = requests.post(f"{server.url}/v1/predict", data=body, headers=headers, timeout=30)
    v2 = requests.post(f"{server.url}/v2/models/sentiment/infer", data=body, headers=headers, timeout=30)
    v2_chunked = requests.post(
        f"{server.url}/v2/models/sentiment/infer", data=_chunked(body), headers=headers, timeout=30
    )
    assert v1.status_code == v2.status_code == v2_chunked.status_code == status
    assert v1.content == v2.content == v2_chunked.content


def test_wrong_content_type_unknown_route_and_method(server: ApiServer) -> None:
    r = requests.post(f"{server.url}/v1/predict", data="text=hello", timeout=10)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = requests.get(f"{server.url}/nowhere", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.delete(f"{server.url}/v1/predict", timeout=10)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["fine"]}]}
    r = requests.post(f"{server.url}/v2/models/unknown/infer", json=body, timeout=10)
    assert r.status_code == 404 and "unknown model" in r.json()["error"]["message"]


def test_tritonclient_calls_v2_infer(server: ApiServer, model: SentimentModel) -> None:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("sentiment")
    assert client.get_model_metadata("sentiment")["inputs"][0]["datatype"] == "BYTES"
    texts = [POSITIVE, NEGATIVE, "It was fine, I guess."]
    tensor = httpclient.InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array(texts, dtype=object), binary_data=False)
    outputs = [
        httpclient.InferRequestedOutput("label", binary_data=False),
        httpclient.InferRequestedOutput("probability", binary_data=False),
    ]
    result = client.infer("sentiment", [tensor], outputs=outputs)
    want = model.predict(texts)
    labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label").tolist()]
    assert labels == [w.label for w in want]
    np.testing.assert_allclose(result.as_numpy("probability"), [w.probability for w in want], rtol=1e-6)
    assert result.get_response()["model_version"] == model.version


def test_sigterm_stops_gracefully(small_model_dir: Path, tmp_path: Path) -> None:
    srv = ApiServer(small_model_dir, tmp_path, workers=1)
    srv.start()
    assert requests.post(f"{srv.url}/v1/predict", json={"text": POSITIVE}, timeout=10).status_code == 200
    srv.signal(signal.SIGTERM)
    assert srv.proc is not None and srv.proc.wait(30) == 0
