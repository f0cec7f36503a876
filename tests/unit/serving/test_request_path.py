"""One request path: every error case sent to every scoring route gets byte-identical error bodies.

Routes: ``/v1/predict`` with a Content-Length (answered by the WSGI fast path) and chunked (the
Flask route), the KServe v2 ``infer`` route both ways, and the form ``POST /predict`` for the errors
it answers in JSON (body too large, a bug); its other errors are rendered on the HTML page.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sentiment_mlops.model.artifact import SentimentModel

JSON = "application/json"
CHUNKED = {"CONTENT_LENGTH": "", "wsgi.input_terminated": True}  # a body without Content-Length
CAP = 4096
V1 = "/v1/predict"
V2 = "/v2/models/sentiment/infer"


def _infer(text: object) -> dict[str, Any]:
    return {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}]}


def _send(
    client: FlaskClient, path: str, body: bytes, content_type: str | None, chunked: bool
) -> TestResponse:
    return client.post(
        path, data=body, content_type=content_type, environ_overrides=CHUNKED if chunked else None
    )


def _every_route(client: FlaskClient, body: bytes, content_type: str | None = JSON) -> list[TestResponse]:
    return [
        _send(client, path, body, content_type, chunked) for path in (V1, V2) for chunked in (False, True)
    ]


def _assert_one_error(responses: list[TestResponse], status: int, code: str) -> bytes:
    bodies = {r.get_data() for r in responses}
    assert len(bodies) == 1, bodies
    assert {r.status_code for r in responses} == {status}
    assert {r.headers["Content-Type"] for r in responses} == {JSON}
    (data,) = bodies
    error = json.loads(data)["error"]
    assert error["code"] == code and error["message"]
    return data


@pytest.fixture
def capped(client: FlaskClient) -> FlaskClient:
    client.application.config["MAX_CONTENT_LENGTH"] = CAP
    return client


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"", 400, "invalid_json", "request body is empty; send a JSON object"),
        (b"{", 400, "invalid_json", "invalid JSON: Expecting property name enclosed in double quotes"),
        (b'{"text": "caf\xe9"}', 400, "invalid_json", "request body is not valid UTF-8"),
        (b"[" * 2000 + b"]" * 2000, 400, "invalid_json", "JSON is nested too deeply"),
        (b'{"text": NaN}', 422, "invalid_input", "NaN is not a valid JSON number"),
        (b'{"texts": ["a", -Infinity]}', 422, "invalid_input", "-Infinity is not a valid JSON number"),
        (b'{"texts": ["a", Infinity]}', 422, "invalid_input", "Infinity is not a valid JSON number"),
        (b"{" * (CAP + 1), 413, "payload_too_large", f"request body is larger than the limit of {CAP} bytes"),
    ],
)
def test_malformed_bodies_get_the_same_bytes_on_every_json_route(
    capped: FlaskClient, body: bytes, status: int, code: str, message: str
) -> None:
    data = _assert_one_error(_every_route(capped, body), status, code)
    assert json.loads(data)["error"]["message"].startswith(message)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_gets_the_same_415(client: FlaskClient, content_type: str | None) -> None:
    # v2 takes an untyped body (tritonclient sends none), so only typed bodies are compared there
    responses = _every_route(client, b'{"text": "fine"}', content_type)
    if content_type is None:
        responses = responses[:2]
    data = _assert_one_error(responses, 415, "unsupported_media_type")
    assert json.loads(data)["error"]["message"] == (
        f"Content-Type must be application/json, got {content_type or 'none'!r}"
    )


def test_the_form_answers_a_body_over_the_cap_with_the_same_bytes(capped: FlaskClient) -> None:
    form = "application/x-www-form-urlencoded"
    big = b"text=" + b"a" * CAP
    form_responses = [_send(capped, "/predict", big, form, chunked) for chunked in (False, True)]
    json_responses = _every_route(capped, b"{" * (CAP + 1))
    _assert_one_error(form_responses + json_responses, 413, "payload_too_large")


def test_a_bug_is_the_same_500_on_every_scoring_route(
    client: FlaskClient, model: SentimentModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(texts: list[str]) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(model, "score", broken)
    monkeypatch.setattr(model, "score_one", broken)  # the single-review path
    v1, v2 = json.dumps({"text": "fine"}).encode(), json.dumps(_infer("fine")).encode()
    responses = [
        _send(client, path, body, JSON, chunked)
        for path, body in ((V1, v1), (V2, v2))
        for chunked in (False, True)
    ]
    responses += [_send(client, "/predict", b"text=fine", "application/x-www-form-urlencoded", False)]
    data = _assert_one_error(responses, 500, "internal_error")
    assert data == b'{"error":{"code":"internal_error","message":"internal server error"}}'


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"texts": ["x"] * 9},
        {"text": 3},
        {"text": "fine", "colour": "red"},
        {"text": "fine", "top_k": 0},
        [],
    ],
)
def test_predict_validation_errors_are_the_same_bytes_both_ways(client: FlaskClient, body: object) -> None:
    data = json.dumps(body).encode()
    fast, routed = (_send(client, V1, data, JSON, chunked) for chunked in (False, True))
    assert fast.status_code == routed.status_code and fast.status_code in (413, 422)
    assert fast.get_data() == routed.get_data()


def test_error_bodies_are_compact_json_in_one_format(client: FlaskClient) -> None:
    """The fast path, a Flask route and werkzeug's routing errors share one encoder."""
    fast = client.post(V1, data=b"", content_type=JSON).get_data()
    assert fast == b'{"error":{"code":"invalid_json","message":"request body is empty; send a JSON object"}}'
    not_found = client.get("/no/such/thing").get_data()
    assert not_found.startswith(b'{"error":{"code":"not_found","message":"')
    assert b", " not in not_found.split(b'"message":')[0]
