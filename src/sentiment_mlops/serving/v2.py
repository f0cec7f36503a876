"""KServe Open Inference Protocol v2 (REST, JSON tensors) so standard clients can call the model.

The model takes one ``BYTES`` input named ``text`` of shape ``[n]`` (or ``[n, 1]``) and returns
``label`` (``BYTES``) and ``probability`` (``FP32``, of positive), both of shape ``[n]``.
Binary tensor extensions are not supported: clients set ``binary_data=False``.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, request

from sentiment_mlops import __version__
from sentiment_mlops.serving.api import _limits, _state, body_limit, label_of, score_texts
from sentiment_mlops.serving.errors import InvalidInputError, ModelNotReadyError, NotFoundError
from sentiment_mlops.serving.request import json_response, read_json
from sentiment_mlops.serving.schemas import check_texts, parse_infer

bp = Blueprint("v2", __name__, url_prefix="/v2")

INPUT_NAME = "text"
OUTPUTS = {"label": "BYTES", "probability": "FP32"}
PLATFORM = "sentiment-mlops_nbsvm"


def _model_info(name: str, version: str | None = None) -> Any:
    """The served model's info if ``name`` (and ``version``) designate it, else 404."""
    state = _state()
    if not state.ready:
        raise ModelNotReadyError("no model is loaded yet")
    _, info = state.get()
    if name != info.name:
        raise NotFoundError(f"unknown model {name!r}; this server serves {info.name!r}")
    if version is not None and version != info.version:
        raise NotFoundError(f"model {name!r} has no version {version!r}; serving version {info.version!r}")
    return info


@bp.get("")
def server_metadata() -> Response:
    return json_response({"name": "sentiment-mlops", "version": __version__, "extensions": []})


@bp.get("/health/live")
def live() -> Response:
    return json_response({"live": True})


@bp.get("/health/ready")
def ready() -> Response:
    is_ready = _state().ready
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None) -> Response:
    info = _model_info(name, version)
    return json_response(
        {
            "name": info.name,
            "versions": [info.version],
            "platform": PLATFORM,
            "inputs": [{"name": INPUT_NAME, "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": n, "datatype": t, "shape": [-1]} for n, t in OUTPUTS.items()],
        }
    )


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None) -> Response:
    info = _model_info(name, version)
    return json_response({"name": info.name, "ready": True})


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None) -> Response:
    if request.headers.get("Inference-Header-Content-Length") is not None:
        raise InvalidInputError("binary tensor data is not supported; send JSON tensors (binary_data=False)")
    req = parse_infer(read_json(request.environ, body_limit(), allow_untyped=True))
    if len(req.inputs) != 1 or req.inputs[0].name != INPUT_NAME:
        raise InvalidInputError(f"inputs: expected exactly one input named {INPUT_NAME!r}")
    tensor = req.inputs[0]
    if tensor.datatype != "BYTES":
        raise InvalidInputError(f"inputs[0].datatype: expected 'BYTES', got {tensor.datatype!r}")
    texts = _flatten_bytes(tensor.shape, tensor.data)
    # an empty batch (shape [0]) is a valid tensor: it gets empty outputs
    check_texts(texts, _limits(), "inputs[0].data", allow_empty=True)
    wanted = _requested_outputs(req.outputs)
    info = _model_info(name, version)  # after the body: a malformed request is a 4xx whatever the name
    probabilities = score_texts(_state(), texts)[2] if texts else []
    outputs: list[dict[str, Any]] = []
    n = len(texts)
    for out in wanted:
        data: list[Any] = (
            [label_of(p) for p in probabilities] if out == "label" else [float(p) for p in probabilities]
        )
        outputs.append({"name": out, "datatype": OUTPUTS[out], "shape": [n], "data": data})
    response: dict[str, Any] = {"model_name": info.name, "model_version": info.version, "outputs": outputs}
    if req.id is not None:
        response["id"] = req.id
    return json_response(response)


def _flatten_bytes(shape: list[int], data: list[Any]) -> list[str]:
    """The strings of a ``[n]`` or ``[n, 1]`` BYTES tensor (data flat or nested), checked against shape."""
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or any(d < 0 for d in shape):
        raise InvalidInputError(f"inputs[0].shape: expected [n] or [n, 1], got {shape}")
    flat: list[Any] = []
    for item in data:
        if isinstance(item, list):
            flat.extend(item)
        else:
            flat.append(item)
    if len(flat) != math.prod(shape):
        raise InvalidInputError(
            f"inputs[0]: shape {shape} holds {math.prod(shape)} elements, data has {len(flat)}"
        )
    if not all(isinstance(t, str) for t in flat):
        raise InvalidInputError("inputs[0].data: every element of a BYTES tensor must be a string")
    return flat


def _requested_outputs(outputs: list[Any] | None) -> list[str]:
    if not outputs:
        return list(OUTPUTS)
    names: list[str] = []
    for i, out in enumerate(outputs):
        if out.name not in OUTPUTS:
            raise InvalidInputError(
                f"outputs[{i}].name: unknown output {out.name!r}; known: {', '.join(OUTPUTS)}"
            )
        if (out.parameters or {}).get("binary_data") is True:
            raise InvalidInputError(f"outputs[{i}]: binary_data is not supported; request binary_data=False")
        names.append(out.name)
    return names
