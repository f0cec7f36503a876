"""Request bodies: types and structure by pydantic (strict, no coercion), size limits checked after.

Validating a 100-review batch costs about 8 µs, so it stays on the hot path. Limits are
configuration (see :class:`Limits`): too many texts or too long a text is 413, wrong types,
unknown fields or blank text is 422. The OpenAPI document is generated from these models
(:mod:`.openapi`); what only the configuration knows is marked with :data:`LIMIT_KEY`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from sentiment_mlops.serving.errors import InvalidInputError, PayloadTooLargeError

MAX_TOP_K = 50
# Marks a schema that a configured limit bounds (the value names a field of Limits); the OpenAPI
# document puts the configured number there (maxLength of a string, maxItems of an array). The
# models do not check these bounds: check_texts does, with a 413 rather than pydantic's 422.
LIMIT_KEY = "x-limit"
# Open Inference Protocol parameters: a flat map of string, number or boolean values.
Parameters = dict[str, str | bool | int | float]


def _integral(value: Any) -> Any:
    """JSON has one number type: ``10.0`` is the integer 10 (JSON Schema agrees); ``10.5`` is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class Limits:
    """Bounds on one request; the body size cap (``max_body_bytes``) applies before parsing.

    Explanations run the pure-Python tokenizer (about 0.1 s per 50,000 characters, against
    microseconds for scoring), so an explained request has its own, smaller bounds: without them
    a 4 MiB body held a sync worker for seconds, and a retry sent it again. 8 texts of 20,000
    characters (longer than any IMDB review) bound the worst case (bench/bench_explain.py).
    """

    max_texts: int = 256
    max_chars: int = 50_000
    max_body_bytes: int = 4 * 1024 * 1024
    max_explain_texts: int = 8
    max_explain_chars: int = 20_000


# A review: a non-blank string; check_texts enforces both (the schema documents them).
Review = Annotated[str, Field(json_schema_extra={"minLength": 1, "pattern": r"\S", LIMIT_KEY: "max_chars"})]


class _NoNulls(BaseModel):
    """Optional fields may be left out, not sent as ``null`` (the OpenAPI document says so)."""

    @model_validator(mode="before")
    @classmethod
    def _reject_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if value is None:
                    raise ValueError(f"{key!r} must not be null")
        return data


class PredictRequest(_NoNulls):
    """One review (``text``) or a batch (``texts``): exactly one of the two."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"oneOf": [{"required": ["text"]}, {"required": ["texts"]}]},
    )

    text: Review | None = None
    texts: (
        Annotated[list[Review], Field(json_schema_extra={"minItems": 1, LIMIT_KEY: "max_texts"})] | None
    ) = None
    explain: bool = Field(False, description="Add the n-grams that drove each prediction.")
    top_k: Annotated[
        int, Field(ge=1, le=MAX_TOP_K, description="How many n-grams to list."), BeforeValidator(_integral)
    ] = 10


class InferInput(_NoNulls):
    """One input tensor of the Open Inference Protocol v2 (JSON tensor encoding)."""

    model_config = ConfigDict(strict=True)

    name: str
    shape: list[Annotated[int, BeforeValidator(_integral)]]
    datatype: str
    data: list[Any]
    parameters: Parameters | None = None


class RequestedOutput(_NoNulls):
    model_config = ConfigDict(strict=True)

    name: str
    parameters: Parameters | None = None


class InferRequest(_NoNulls):
    """An Open Inference Protocol v2 request (JSON tensors)."""

    model_config = ConfigDict(strict=True)

    id: str | None = None
    parameters: Parameters | None = None
    inputs: Annotated[list[InferInput], Field(min_length=1)]
    outputs: list[RequestedOutput] | None = None


def _describe(exc: ValidationError) -> str:
    """The first validation problem as ``field: message`` (enough to fix the request)."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def parse_predict(body: Any, limits: Limits) -> tuple[list[str], PredictRequest]:
    """Validate a ``/v1/predict`` body; return the texts to score and the parsed request."""
    if not isinstance(body, dict):
        raise InvalidInputError("body must be a JSON object with 'text' or 'texts'")
    try:
        req = PredictRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidInputError(_describe(exc)) from None
    if (req.text is None) == (req.texts is None):
        raise InvalidInputError("give exactly one of 'text' (a string) or 'texts' (a list of strings)")
    texts = [req.text] if req.text is not None else req.texts
    assert texts is not None
    field = "texts" if req.texts is not None else "text"
    check_texts(texts, limits, field)
    if req.explain:
        check_explained(texts, limits, field)
    return texts, req


def check_explained(texts: list[str], limits: Limits, field: str) -> None:
    """The smaller bounds of a request whose texts are explained (see :class:`Limits`)."""
    if len(texts) > limits.max_explain_texts:
        raise PayloadTooLargeError(
            f"{field}: {len(texts)} texts to explain, the limit is {limits.max_explain_texts} per "
            f"request (without explain: {limits.max_texts})"
        )
    for i, t in enumerate(texts):
        if len(t) > limits.max_explain_chars:
            raise PayloadTooLargeError(
                f"{field}[{i}]: {len(t)} characters to explain, the limit is {limits.max_explain_chars} "
                f"(without explain: {limits.max_chars})"
            )


def check_texts(texts: list[str], limits: Limits, field: str, allow_empty: bool = False) -> None:
    """Count, length and blank checks shared by every endpoint that scores text."""
    if not texts and not allow_empty:
        raise InvalidInputError(f"{field}: must hold at least one text")
    if len(texts) > limits.max_texts:
        raise PayloadTooLargeError(
            f"{field}: {len(texts)} texts, the limit is {limits.max_texts} per request"
        )
    for i, t in enumerate(texts):
        if len(t) > limits.max_chars:
            raise PayloadTooLargeError(f"{field}[{i}]: {len(t)} characters, the limit is {limits.max_chars}")
        if not t or t.isspace():
            raise InvalidInputError(f"{field}[{i}]: text is empty")


def parse_infer(body: Any) -> InferRequest:
    """Validate the structure of a v2 inference request (tensor checks happen in the endpoint)."""
    if not isinstance(body, dict):
        raise InvalidInputError("body must be a JSON object with 'inputs'")
    try:
        return InferRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidInputError(_describe(exc)) from None


class PredictForm(BaseModel):
    """The web page's form."""

    text: Review
