"""The service's exceptions: each carries its HTTP status and a stable machine-readable code.

:mod:`.request` turns every error, ours or werkzeug's, into ``{"error": {"code": ..., "message": ...}}``
with one encoder, so clients parse a single shape whichever route answered.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client; subclasses fix ``status`` and ``code``."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidJSONError(ApiError):
    status, code = 400, "invalid_json"


class NotFoundError(ApiError):
    status, code = 404, "not_found"


class PayloadTooLargeError(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaTypeError(ApiError):
    status, code = 415, "unsupported_media_type"


class InvalidInputError(ApiError):
    status, code = 422, "invalid_input"


class ModelNotReadyError(ApiError):
    status, code = 503, "model_not_ready"
