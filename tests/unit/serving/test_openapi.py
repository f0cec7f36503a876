"""The OpenAPI document is generated from the request models: it accepts what the API accepts and
refuses what the API refuses, under the configured limits."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from sentiment_mlops.serving.schemas import PredictRequest

OK = "A fine film."


def _validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator({**doc, "$ref": f"#/components/schemas/{name}"})


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ({"text": OK}, True),
        ({"texts": [OK] * 8, "explain": True, "top_k": 50}, True),
        ({"text": OK, "top_k": 10.0}, True),  # JSON has one number type
        ({"texts": [OK] * 9}, False),  # the configured MAX_TEXTS (8), not the default
        ({"text": "a" * 2001}, False),  # the configured MAX_CHARS (2000)
        ({"text": " \n"}, False),
        ({"text": ""}, False),
        ({"texts": []}, False),
        ({"text": None}, False),
        ({"text": OK, "explain": None}, False),
        ({"text": OK, "texts": [OK]}, False),
        ({}, False),
        ({"text": OK, "colour": "red"}, False),
        ({"text": OK, "top_k": 0}, False),
        ({"text": OK, "top_k": 1.5}, False),
        ({"text": OK, "explain": "yes"}, False),
        ([OK], False),
    ],
)
def test_the_document_and_the_api_agree_on_predict_bodies(
    client: FlaskClient, body: Any, accepted: bool
) -> None:
    doc = client.get("/openapi.json").get_json()
    assert _validator(doc, "PredictRequest").is_valid(body) is accepted
    status = client.post("/v1/predict", json=body).status_code
    assert (status == 200) is accepted, status


def test_every_field_of_the_request_models_is_documented(client: FlaskClient) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert set(schemas["PredictRequest"]["properties"]) == set(PredictRequest.model_fields)
    assert "x-limit" not in str(schemas)  # every marker became the configured number


def test_answers_validate_against_their_documented_schema(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    r = client.post("/v1/predict", json={"texts": [OK, "Dull."], "explain": True, "top_k": 2})
    _validator(doc, "PredictResponse").validate(r.get_json())
    _validator(doc, "ErrorBody").validate(client.post("/v1/predict", json={}).get_json())
    _validator(doc, "Version").validate(client.get("/version").get_json())
    infer = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [OK]}]}
    assert _validator(doc, "InferRequest").is_valid(infer)
    _validator(doc, "InferResponse").validate(
        client.post("/v2/models/sentiment/infer", json=infer).get_json()
    )
