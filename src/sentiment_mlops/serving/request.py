"""One request path for every scoring route: body reading, content type, size limit, JSON parsing
and the error body.

The WSGI fast path of ``/v1/predict`` (:mod:`.middleware`), the Flask routes (``/v1/predict`` for
chunked bodies, the KServe v2 ``infer``, the form ``/predict``) and the Flask error handlers all call
these functions, so a malformed request gets the same status and the same bytes whichever way it
came in. Functions take the WSGI environ, not Flask's ``request``, so that the fast path can call
them without a request context.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from sentiment_mlops.serving.errors import (
    ApiError,
    InvalidInputError,
    InvalidJSONError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
READ_CHUNK = 64 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024  # read at most this much of a refused body so the client sees the 413
StartResponse = Callable[..., Any]

# werkzeug's own exceptions (routing, form parsing) mapped onto the same codes as ours.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


# --- encoding: one encoder, one byte format for every JSON answer ---------------------------------


# One encoder object: json.dumps with any keyword builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def encode(payload: Any) -> bytes:
    """The service's JSON bytes: compact, keys in the order the code builds them."""
    return _ENCODER.encode(payload).encode()


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(encode(payload), status=status, mimetype=JSON_TYPE)


def error_body(error: ApiError) -> bytes:
    return encode({"error": {"code": error.code, "message": error.message}})


def too_large(limit: int | None) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"request body is larger than the limit of {limit} bytes")


def as_api_error(exc: BaseException, body_limit: int | None) -> ApiError:
    """Any exception as the error the client sees: ours as raised, werkzeug's on the same codes,
    anything else a logged 500 that gives nothing away."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RequestEntityTooLarge):
        return too_large(body_limit)
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        error = ApiError(exc.description or exc.name)
        error.status, error.code = status, _HTTP_CODES.get(status, "http_error")
        return error
    log.error("unhandled error", exc_info=exc)
    return ApiError("internal server error")


def respond(start_response: StartResponse, status: int, data: bytes) -> list[bytes]:
    """Answer JSON bytes straight to the WSGI server (the fast path has no Flask response)."""
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", JSON_TYPE), ("Content-Length", str(len(data)))],
    )
    return [data]


def register_error_handlers(app: Flask) -> None:
    """Every exception a Flask route raises becomes the JSON error body; a bug is a logged 500,
    never a traceback page."""

    @app.errorhandler(Exception)
    def _error(exc: Exception) -> Response:
        error = as_api_error(exc, app.config.get("MAX_CONTENT_LENGTH"))
        response = Response(error_body(error), status=error.status, mimetype=JSON_TYPE)
        if isinstance(exc, HTTPException) and exc.code == 405:
            allow = exc.get_response().headers.get("Allow")
            if allow:
                response.headers["Allow"] = allow
        return response


# --- reading: content type, size limit, body, JSON ------------------------------------------------


def check_json_type(environ: dict[str, Any], allow_untyped: bool = False) -> None:
    """415 unless the body is declared JSON. ``allow_untyped``: a body sent without a Content-Type
    is accepted too (tritonclient sends none)."""
    content_type = environ.get("CONTENT_TYPE") or ""
    mimetype = content_type.split(";", 1)[0].strip().lower()
    if mimetype != JSON_TYPE and not (allow_untyped and not mimetype):
        raise UnsupportedMediaTypeError(f"Content-Type must be {JSON_TYPE}, got {content_type or 'none'!r}")


def read_body(environ: dict[str, Any], limit: int | None) -> bytes:
    """The request body. With a Content-Length: 413 above ``limit`` before reading a byte. Without
    (chunked): read to the end, 413 as soon as it passes ``limit``."""
    stream = environ["wsgi.input"]
    header = environ.get("CONTENT_LENGTH")
    if header:
        try:
            length = int(header)
        except ValueError:
            raise InvalidJSONError("Content-Length is not a number") from None
        if limit is not None and length > limit:
            raise too_large(limit)
        return stream.read(length) if length > 0 else b""
    if not environ.get("wsgi.input_terminated"):
        return b""  # neither a length nor a server that ends the stream: WSGI says read nothing
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(READ_CHUNK):
        size += len(chunk)
        if limit is not None and size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def buffer_body(environ: dict[str, Any], limit: int | None) -> None:
    """Read the whole body under ``limit`` (413 past it) and put it back as a sized stream for a
    form parser downstream: werkzeug's parser cuts a chunked body off at the cap without a word,
    and would score a truncated review."""
    body = read_body(environ, limit)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)


def drain(environ: dict[str, Any]) -> None:
    """Read and drop what is left of a refused body (up to :data:`DRAIN_LIMIT`): closing a socket
    with unread data resets the connection, and the client would see a reset instead of the 413."""
    stream = environ.get("wsgi.input")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if length <= 0 and environ.get("wsgi.input_terminated"):
        length = DRAIN_LIMIT  # chunked: the server ends the stream where the body ends
    if stream is None or length <= 0 or length > DRAIN_LIMIT:
        return
    remaining = length
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, READ_CHUNK))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, ValueError):
        pass


class _NonFiniteNumberError(Exception):
    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def _reject_constant(literal: str) -> Any:
    raise _NonFiniteNumberError(literal)


def parse_json(body: bytes) -> Any:
    """Decode a JSON body; every way it can be malformed is a 4xx naming the problem. ``NaN`` and
    ``Infinity`` (which Python's json accepts) are not JSON numbers: 422."""
    if not body:
        raise InvalidJSONError("request body is empty; send a JSON object")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except _NonFiniteNumberError as exc:
        raise InvalidInputError(f"{exc.literal} is not a valid JSON number") from None
    except RecursionError:
        raise InvalidJSONError("JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise InvalidJSONError("request body is not valid UTF-8") from None
    except ValueError as exc:
        raise InvalidJSONError(f"invalid JSON: {exc}") from None


def read_json(environ: dict[str, Any], limit: int | None, allow_untyped: bool = False) -> Any:
    """Content type, size limit, body, JSON: the parsed body of a JSON scoring request."""
    check_json_type(environ, allow_untyped)
    return parse_json(read_body(environ, limit))
