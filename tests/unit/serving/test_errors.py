"""Every malformed request gets a 4xx with ``{"error": {"code", "message"}}``; never a 500."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

JSON = "application/json"


def _error(r: object) -> dict[str, str]:
    body = r.get_json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        (b"{", 400, "invalid_json", "invalid JSON"),
        (b"", 400, "invalid_json", "empty"),
        (b'{"text": "caf\xe9"}', 400, "invalid_json", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json", "nested"),
        (b'{"text": NaN}', 422, "invalid_input", "NaN"),
        (b'{"texts": ["a", Infinity]}', 422, "invalid_input", "Infinity"),
        (b'{"text": -Infinity}', 422, "invalid_input", "Infinity"),
        (b'"just a string"', 422, "invalid_input", "JSON object"),
        (b"[]", 422, "invalid_input", "JSON object"),
        (b"{}", 422, "invalid_input", "exactly one"),
        (b'{"text": "a", "texts": ["b"]}', 422, "invalid_input", "exactly one"),
        (b'{"text": 42}', 422, "invalid_input", "text"),
        (b'{"text": null}', 422, "invalid_input", "null"),
        (b'{"texts": "not a list"}', 422, "invalid_input", "texts"),
        (b'{"texts": ["ok", 3]}', 422, "invalid_input", "texts.1"),
        (b'{"texts": []}', 422, "invalid_input", "at least one"),
        (b'{"text": ""}', 422, "invalid_input", "empty"),
        (b'{"text": " \\n\\t "}', 422, "invalid_input", "empty"),
        (b'{"text": "fine", "explain": "yes"}', 422, "invalid_input", "explain"),
        (b'{"text": "fine", "top_k": 0}', 422, "invalid_input", "top_k"),
        (b'{"text": "fine", "top_k": 1.5}', 422, "invalid_input", "top_k"),
        (b'{"text": "fine", "colour": "red"}', 422, "invalid_input", "colour"),
        (json.dumps({"texts": ["a"] * 9}).encode(), 413, "payload_too_large", "limit is 8"),
        (json.dumps({"text": "a" * 2001}).encode(), 413, "payload_too_large", "2001 characters"),
    ],
)
def test_malformed_predict_bodies(
    client: FlaskClient, body: bytes, status: int, code: str, fragment: str
) -> None:
    r = client.post("/v1/predict", data=body, content_type=JSON)
    assert r.status_code == status
    err = _error(r)
    assert err["code"] == code
    assert fragment in err["message"]


def test_body_over_the_cap_is_413_before_parsing(client: FlaskClient) -> None:
    client.application.config["MAX_CONTENT_LENGTH"] = 1024
    r = client.post("/v1/predict", data=b"{" * 10_000, content_type=JSON)
    assert r.status_code == 413
    assert _error(r)["code"] == "payload_too_large"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_json_endpoint_requires_json_content_type(client: FlaskClient, content_type: str | None) -> None:
    r = client.post("/v1/predict", data=b'{"text": "fine"}', content_type=content_type)
    assert r.status_code == 415
    assert _error(r)["code"] == "unsupported_media_type"


def test_unknown_route_and_wrong_method(client: FlaskClient) -> None:
    r = client.get("/no/such/thing")
    assert r.status_code == 404 and _error(r)["code"] == "not_found"
    r = client.get("/v1/predict")
    assert r.status_code == 405 and _error(r)["code"] == "method_not_allowed"
    assert "POST" in r.headers["Allow"]


def test_a_bug_is_a_json_500_not_a_traceback(client: FlaskClient) -> None:
    app = client.application

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail")

    r = client.get("/boom")
    assert r.status_code == 500
    err = _error(r)
    assert err["code"] == "internal_error" and "secret" not in err["message"]
