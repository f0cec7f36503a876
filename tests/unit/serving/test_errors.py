"""Every malformed request gets a 4xx with ``{"error": {"code", "message"}}``; never a 500.

Here: what ``/v1/predict``'s schema refuses, and routing errors. What every scoring route shares
(JSON syntax, encoding, nesting, non-finite numbers, body size, Content-Type) is sent to every
route by test_request_path.py."""

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
