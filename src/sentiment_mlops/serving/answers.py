"""The service's answers, as the OpenAPI document describes them (:mod:`.openapi` renders these
models). The routes build plain dicts for speed; the schemathesis run checks every answer against
the document, so the two cannot drift apart."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_input"], description="Stable, machine-readable.")
    message: str = Field(description="What is wrong, enough to fix the request.")


class ErrorBody(BaseModel):
    """Every error, from every route."""

    error: ErrorDetail


class NGram(BaseModel):
    ngram: str
    weight: float = Field(description="Signed contribution to the logit (positive: towards positive).")


class Prediction(BaseModel):
    id: str = Field(description="Send it with the true label to /v1/feedback.")
    label: Literal["negative", "positive"]
    probability: float = Field(ge=0, le=1, description="P(positive)")
    explanation: list[NGram] | None = Field(None, description="With explain=true: the top_k n-grams.")


class ModelRef(BaseModel):
    """A model's identity, the same in every answer: the team registry's version and the weights' hash."""

    name: str
    version: str
    content_hash: str


class PredictResponse(BaseModel):
    """One prediction per text, in order."""

    predictions: list[Prediction]
    model: ModelRef


class Status(BaseModel):
    status: str
    reason: str | None = None
    model: ModelRef | None = None


class ServedModel(ModelRef):
    alias: str
    featurizer_version: str


class Kernels(BaseModel):
    """The scoring kernels this process runs (see ``sentiment_mlops.model.kernels``)."""

    implementation: Literal["compiled", "python"]
    module: str
    cpu_baseline: str
    threads: int


class Version(BaseModel):
    package: str
    model: ServedModel
    kernels: Kernels


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class ModelReady(Ready):
    name: str


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    # The protocol has no field for it: parameters carry the weights' hash beside the version.
    parameters: dict[str, str] | None = None


class OutputTensor(BaseModel):
    name: Literal["label", "probability", "id"]
    datatype: Literal["BYTES", "FP32"]
    shape: list[int]
    data: list[str | float]


class InferResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())  # model_name is the protocol's field name

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, str] | None = None
    outputs: list[OutputTensor]
