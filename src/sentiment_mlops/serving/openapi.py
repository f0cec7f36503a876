"""The OpenAPI 3.1 document served at ``/openapi.json``: every endpoint, body and error.

Built from the configured limits so the document and the validation cannot disagree.
"""

from __future__ import annotations

from typing import Any

from sentiment_mlops import __version__
from sentiment_mlops.serving.schemas import MAX_TOP_K, Limits

JSON = "application/json"
PARAMETERS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
HTML = "text/html"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _schemas(limits: Limits) -> dict[str, Any]:
    text = {
        "type": "string",
        "minLength": 1,
        "maxLength": limits.max_chars,
        "pattern": r"\S",
        "description": "A review; must hold a non-blank character.",
    }
    common = {
        "explain": {
            "type": "boolean",
            "default": False,
            "description": (
                "Add the n-grams that drove it. Explaining costs far more than scoring: an explained "
                f"request holds at most {limits.max_explain_texts} texts of {limits.max_explain_chars} "
                "characters (413 otherwise)."
            ),
        },
        "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 10},
    }
    # A model's identity, the same in every answer: the team registry's version and the content hash.
    model_ref = {
        "type": "object",
        "required": ["name", "version", "content_hash"],
        "properties": {k: {"type": "string"} for k in ("name", "version", "content_hash")},
    }
    content_hash = {"type": "object", "properties": {"content_hash": {"type": "string"}}}
    tensor_out = {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": {"type": "string", "enum": ["label", "probability"]},
            "datatype": {"type": "string", "enum": ["BYTES", "FP32"]},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array", "items": {"type": ["string", "number"]}},
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "examples": ["invalid_input"]},
                        "message": {"type": "string"},
                    },
                }
            },
        },
        "PredictRequest": {
            "oneOf": [
                {
                    "type": "object",
                    "title": "One review",
                    "required": ["text"],
                    "additionalProperties": False,
                    "properties": {"text": text, **common},
                },
                {
                    "type": "object",
                    "title": "A batch of reviews",
                    "required": ["texts"],
                    "additionalProperties": False,
                    "properties": {
                        "texts": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": limits.max_texts,
                            "items": text,
                        },
                        **common,
                    },
                },
            ],
            "description": f"The whole body is at most {limits.max_body_bytes} bytes.",
        },
        "Prediction": {
            "type": "object",
            "required": ["label", "probability"],
            "properties": {
                "label": {"type": "string", "enum": ["negative", "positive"]},
                "probability": {"type": "number", "minimum": 0, "maximum": 1, "description": "P(positive)"},
                "explanation": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["ngram", "weight"],
                        "properties": {"ngram": {"type": "string"}, "weight": {"type": "number"}},
                    },
                },
            },
        },
        "PredictResponse": {
            "type": "object",
            "required": ["predictions", "model"],
            "properties": {"predictions": {"type": "array", "items": _ref("Prediction")}, "model": model_ref},
        },
        "Version": {
            "type": "object",
            "required": ["package", "model"],
            "properties": {
                "package": {"type": "string"},
                "model": {
                    "type": "object",
                    "required": ["name", "version", "content_hash", "alias", "featurizer_version"],
                    "properties": {
                        k: {"type": "string"}
                        for k in ("name", "version", "content_hash", "alias", "featurizer_version")
                    },
                },
            },
        },
        "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
        "InferRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": PARAMETERS,
                "inputs": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "shape", "datatype", "data"],
                        "properties": {
                            "name": {"type": "string", "enum": ["text"]},
                            "shape": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 2,
                                "items": {"type": "integer", "minimum": 0},
                            },
                            "datatype": {"type": "string", "enum": ["BYTES"]},
                            "data": {"type": "array", "maxItems": limits.max_texts, "items": text},
                            "parameters": PARAMETERS,
                        },
                    },
                },
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "enum": ["label", "probability"]},
                            "parameters": PARAMETERS,
                        },
                    },
                },
            },
        },
        "InferResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "parameters": content_hash,
                "outputs": {"type": "array", "items": tensor_out},
            },
        },
        "ModelMetadata": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "parameters": content_hash,
                "inputs": {"type": "array", "items": {"type": "object"}},
                "outputs": {"type": "array", "items": {"type": "object"}},
            },
        },
    }


def _path_params(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def openapi_document(limits: Limits) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the service under ``limits``."""
    text = _schemas(limits)["PredictRequest"]["oneOf"][0]["properties"]["text"]
    not_ready = _error("No model is loaded (the process is starting or the model failed to load).")
    too_large = _error(
        f"Body larger than {limits.max_body_bytes} bytes, more than {limits.max_texts} texts, "
        f"or a text longer than {limits.max_chars} characters; with explain, more than "
        f"{limits.max_explain_texts} texts or a text longer than {limits.max_explain_chars} characters."
    )
    html = {HTML: {"schema": {"type": "string"}}}
    paths: dict[str, Any] = {
        "/v1/predict": {
            "post": {
                "summary": "Sentiment of one review or a batch",
                "operationId": "predict",
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("PredictRequest")}}},
                "responses": {
                    "200": _json(_ref("PredictResponse"), "One prediction per text, in order."),
                    "400": _error("The body is not valid JSON (syntax, encoding or nesting depth)."),
                    "413": too_large,
                    "415": _error("Content-Type is not application/json."),
                    "422": _error(
                        "Valid JSON of the wrong shape: missing or extra fields, wrong types, blank text."
                    ),
                    "503": not_ready,
                },
            }
        },
        "/predict": {
            "post": {
                "summary": "The web page's form: renders the page with the result",
                "operationId": "predictForm",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["text"],
                                "properties": {"text": text},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The page with the label, probability and highlights.",
                        "content": html,
                    },
                    "413": {
                        "description": "Too long a review or body.",
                        "content": {**html, **too_large["content"]},
                    },
                    "415": _error("Not a form submission."),
                    "422": {
                        "description": "The page with an error: missing or blank review.",
                        "content": html,
                    },
                    "503": not_ready,
                },
            }
        },
        "/": {
            "get": {"summary": "The web page", "responses": {"200": {"description": "HTML", "content": html}}}
        },
        "/healthz": {
            "get": {"summary": "Liveness", "responses": {"200": _json(_ref("Status"), "The process runs.")}}
        },
        "/readyz": {
            "get": {
                "summary": "Readiness",
                "responses": {
                    "200": _json(_ref("Status"), "A model is loaded."),
                    "503": _json(_ref("Status"), "No model is loaded."),
                },
            }
        },
        "/version": {
            "get": {
                "summary": "Package and model versions",
                "responses": {"200": _json(_ref("Version"), "Versions."), "503": not_ready},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (all workers)",
                "responses": {
                    "200": {
                        "description": "Exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")},
            }
        },
        "/v2": {
            "get": {
                "summary": "Open Inference Protocol v2: server metadata",
                "responses": {
                    "200": _json({"type": "object", "required": ["name", "version"]}, "Server metadata.")
                },
            }
        },
        "/v2/health/live": {
            "get": {"summary": "v2 liveness", "responses": {"200": _json({"type": "object"}, "Live.")}}
        },
        "/v2/health/ready": {
            "get": {
                "summary": "v2 readiness",
                "responses": {
                    "200": _json({"type": "object"}, "Ready."),
                    "503": _json({"type": "object"}, "Not ready."),
                },
            }
        },
    }
    for prefix, params in (
        ("/v2/models/{name}", ("name",)),
        ("/v2/models/{name}/versions/{version}", ("name", "version")),
    ):
        unknown = _error("Unknown model name or version.")
        paths[prefix] = {
            "get": {
                "summary": "v2 model metadata",
                "parameters": _path_params(*params),
                "responses": {
                    "200": _json(_ref("ModelMetadata"), "Metadata."),
                    "404": unknown,
                    "503": not_ready,
                },
            }
        }
        paths[f"{prefix}/ready"] = {
            "get": {
                "summary": "v2 model readiness",
                "parameters": _path_params(*params),
                "responses": {
                    "200": _json({"type": "object", "required": ["name", "ready"]}, "Ready."),
                    "404": unknown,
                    "503": not_ready,
                },
            }
        }
        paths[f"{prefix}/infer"] = {
            "post": {
                "summary": "v2 inference: BYTES input 'text' of shape [n]",
                "parameters": _path_params(*params),
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("InferRequest")}}},
                "responses": {
                    "200": _json(_ref("InferResponse"), "Outputs 'label' (BYTES) and 'probability' (FP32)."),
                    "400": _error("The body is not valid JSON."),
                    "404": unknown,
                    "413": too_large,
                    "415": _error("Content-Type is neither application/json nor absent."),
                    "422": _error("Not a valid v2 request for this model (names, datatype, shape, data)."),
                    "503": not_ready,
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Movie review sentiment API",
            "version": __version__,
            "description": 'Errors share one body: {"error": {"code", "message"}}. '
            "Every response carries X-Request-ID (the client's, if it sent a valid one).",
        },
        "paths": paths,
        "components": {"schemas": _schemas(limits)},
    }
