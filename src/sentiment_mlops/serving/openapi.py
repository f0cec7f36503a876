"""The OpenAPI 3.1 document served at ``/openapi.json``.

Bodies and answers are the pydantic models of :mod:`.schemas`, rendered by pydantic's own JSON
Schema generator; this module adds only what the routes know (paths, methods, statuses, media
types, summaries) and what the configuration knows (the limits), so the document, the validation
and the configuration cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from sentiment_mlops import __version__
from sentiment_mlops.serving import answers as a
from sentiment_mlops.serving import schemas as s
from sentiment_mlops.serving.feedback import FeedbackRequest, FeedbackResponse
from sentiment_mlops.serving.request import JSON_TYPE
from sentiment_mlops.serving.schemas import LIMIT_KEY, Limits

HTML = {"text/html": {"schema": {"type": "string"}}}
FORM_TYPE = "application/x-www-form-urlencoded"
REF_TEMPLATE = "#/components/schemas/{model}"
# Where a configured limit goes in a schema marked with LIMIT_KEY, by the schema's type.
LIMIT_KEYWORD = {"string": "maxLength", "array": "maxItems"}
NOT_READY = "No model is loaded (the process is starting or the model failed to load)."
UNKNOWN_MODEL = "Unknown model name or version."
WRONG_SHAPE = "Valid JSON of the wrong shape"

Answer = type[BaseModel] | dict[str, Any]  # a model (JSON), or the content map of another media type


@dataclass(frozen=True)
class Operation:
    """One route as the document describes it; ``answers``: status -> (body, description)."""

    method: str
    path: str
    summary: str
    answers: dict[int, tuple[Answer, str]]
    body: type[BaseModel] | None = None
    body_type: str = JSON_TYPE
    description: str | None = None


def _json_errors(
    too_large: str, wrong_shape: str, wrong_type: str = "Content-Type is not application/json."
) -> dict[int, tuple[Answer, str]]:
    """What a route with a JSON body answers to a body it cannot take (one request path for all)."""
    return {
        400: (a.ErrorBody, "The body is not valid JSON (syntax, encoding or nesting depth)."),
        413: (a.ErrorBody, too_large),
        415: (a.ErrorBody, wrong_type),
        422: (a.ErrorBody, wrong_shape),
    }


def _operations(limits: Limits) -> list[Operation]:
    too_large = (
        f"Body larger than {limits.max_body_bytes} bytes, more than {limits.max_texts} texts, "
        f"or a text longer than {limits.max_chars} characters; with explain, more than "
        f"{limits.max_explain_texts} texts or a text longer than {limits.max_explain_chars} characters."
    )
    ops = [
        Operation(
            "post",
            "/v1/predict",
            "Sentiment of one review or a batch",
            {
                200: (a.PredictResponse, "One prediction per text, in order."),
                **_json_errors(
                    too_large, f"{WRONG_SHAPE}: missing or extra fields, wrong types, blank text."
                ),
                503: (a.ErrorBody, NOT_READY),
            },
            body=s.PredictRequest,
        ),
        Operation(
            "post",
            "/v1/feedback",
            "True labels for earlier predictions, one or a batch",
            {
                202: (
                    FeedbackResponse,
                    "Accepted and logged; unknown or repeated ids too (the join happens offline).",
                ),
                **_json_errors(
                    f"Body larger than {limits.max_body_bytes} bytes.",
                    f"{WRONG_SHAPE}: missing or extra fields, unknown label.",
                ),
            },
            body=FeedbackRequest,
        ),
        Operation(
            "post",
            "/predict",
            "The web page's form: renders the page with the result",
            {
                200: (HTML, "The page with the label, probability and highlights."),
                413: (
                    {**HTML, **_content(a.ErrorBody)},
                    f"Too long a review (the page) or body (JSON). {too_large}",
                ),
                415: (a.ErrorBody, "Not a form submission."),
                422: (HTML, "The page with an error: missing or blank review."),
                503: (a.ErrorBody, NOT_READY),
            },
            body=s.PredictForm,
            body_type=FORM_TYPE,
        ),
        Operation("get", "/", "The web page", {200: (HTML, "HTML")}),
        Operation("get", "/healthz", "Liveness", {200: (a.Status, "The process runs.")}),
        Operation(
            "get",
            "/readyz",
            "Readiness",
            {200: (a.Status, "A model is loaded."), 503: (a.Status, "No model is loaded.")},
        ),
        Operation(
            "get",
            "/version",
            "Package and model versions",
            {200: (a.Version, "Versions."), 503: (a.ErrorBody, NOT_READY)},
        ),
        Operation(
            "get",
            "/metrics",
            "Prometheus metrics (all workers)",
            {200: ({"text/plain": {"schema": {"type": "string"}}}, "Exposition format.")},
        ),
        Operation(
            "get",
            "/openapi.json",
            "This document",
            {200: (_content({"type": "object"}), "OpenAPI 3.1 document.")},
        ),
        Operation(
            "get",
            "/v2",
            "Open Inference Protocol v2: server metadata",
            {200: (a.ServerMetadata, "Server metadata.")},
        ),
        Operation("get", "/v2/health/live", "v2 liveness", {200: (a.Live, "Live.")}),
        Operation(
            "get",
            "/v2/health/ready",
            "v2 readiness",
            {200: (a.Ready, "Ready."), 503: (a.Ready, "Not ready.")},
        ),
    ]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        missing = {404: (a.ErrorBody, UNKNOWN_MODEL), 503: (a.ErrorBody, NOT_READY)}
        ops += [
            Operation("get", prefix, "v2 model metadata", {200: (a.ModelMetadata, "Metadata."), **missing}),
            Operation(
                "get", f"{prefix}/ready", "v2 model readiness", {200: (a.ModelReady, "Ready."), **missing}
            ),
            Operation(
                "post",
                f"{prefix}/infer",
                "v2 inference: one BYTES input 'text' of shape [n] or [n, 1]",
                {
                    200: (
                        a.InferResponse,
                        "Outputs 'label' (BYTES), 'probability' (FP32), 'id' (BYTES), shape [n].",
                    ),
                    **_json_errors(
                        too_large,
                        "Not a valid v2 request for this model (names, datatype, shape, data).",
                        "Content-Type is neither application/json nor absent.",
                    ),
                    **missing,
                },
                body=s.InferRequest,
                description=(
                    "The model takes one input named 'text', datatype BYTES, of shape [n] or [n, 1], "
                    f"at most {limits.max_texts} texts; JSON tensors only (binary_data=false)."
                ),
            ),
        ]
    return ops


class _DocumentSchema(GenerateJsonSchema):
    """pydantic's generator, saying what the models check: an optional field may be left out but
    never sent as ``null``, so ``null`` is neither one of its types nor its default."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None:
            del json_schema["default"]
        return json_schema


def _content(answer: Answer) -> dict[str, Any]:
    if isinstance(answer, dict) and "schema" in answer:
        return {JSON_TYPE: answer}
    if isinstance(answer, dict):
        return answer
    return {JSON_TYPE: {"schema": {"$ref": REF_TEMPLATE.format(model=answer.__name__)}}}


def _with_limits(node: Any, limits: Limits) -> Any:
    """Put the configured limits where the models marked them (:data:`.schemas.LIMIT_KEY`)."""
    if isinstance(node, list):
        return [_with_limits(item, limits) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_limits(value, limits) for key, value in node.items() if key != LIMIT_KEY}
    if LIMIT_KEY in node:
        out[LIMIT_KEYWORD[node["type"]]] = getattr(limits, node[LIMIT_KEY])
    return out


def component_schemas(operations: list[Operation]) -> dict[str, Any]:
    """Every model the operations name, as JSON Schema (bodies as validated, answers as sent)."""
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for op in operations:
        if op.body is not None:
            models[(op.body, "validation")] = None
        for answer, _ in op.answers.values():
            if isinstance(answer, type):
                models[(answer, "serialization")] = None
    _, defs = models_json_schema(list(models), ref_template=REF_TEMPLATE, schema_generator=_DocumentSchema)
    components: dict[str, Any] = defs.get("$defs", {})
    return components


def _operation(op: Operation, limits: Limits) -> dict[str, Any]:
    doc: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op)}
    if op.description:
        doc["description"] = op.description
    names = re.findall(r"\{(\w+)\}", op.path)
    if names:
        doc["parameters"] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
        ]
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "description": f"At most {limits.max_body_bytes} bytes.",
            "content": {op.body_type: _content(op.body)[JSON_TYPE]},
        }
    doc["responses"] = {
        str(status): {"description": text, "content": _content(answer)}
        for status, (answer, text) in sorted(op.answers.items())
    }
    return doc


def _operation_id(op: Operation) -> str:
    words = re.findall(r"[a-z0-9]+", op.path.replace("{", "by_").lower()) or ["page"]
    return op.method + "".join(w.capitalize() for w in words)


def openapi_document(limits: Limits) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the service under ``limits``."""
    operations = _operations(limits)
    paths: dict[str, Any] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op, limits)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Movie review sentiment API",
            "version": __version__,
            "description": 'Errors share one body on every route: {"error":{"code":…,"message":…}}. '
            "Every response carries X-Request-ID (the client's, if it sent a valid one).",
        },
        "paths": paths,
        "components": {"schemas": _with_limits(component_schemas(operations), limits)},
    }
