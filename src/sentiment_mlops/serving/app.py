"""The Flask app factory: receives a loaded model, wires routes, errors, metrics and request ids."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request

from sentiment_mlops.model import SentimentModel
from sentiment_mlops.serving.errors import register_error_handlers
from sentiment_mlops.serving.logging import ACCESS_LOGGER, request_id_from
from sentiment_mlops.serving.metrics import Metrics, endpoint_label
from sentiment_mlops.serving.schemas import Limits
from sentiment_mlops.serving.state import ModelState

log = logging.getLogger(__name__)
access_log = logging.getLogger(ACCESS_LOGGER)

EXTENSION = "sentiment"
DRAIN_LIMIT = 64 * 1024 * 1024  # read at most this much of a refused body so the client sees the 413


def create_app(
    model: SentimentModel | None, config: Mapping[str, Any] | None = None, metrics: Metrics | None = None
) -> Flask:
    """Build the app around ``model`` (``None``: not ready, inference answers 503).

    ``config`` keys: ``MAX_TEXTS``, ``MAX_CHARS``, ``MAX_CONTENT_LENGTH`` (bytes, checked before
    the body is read), ``MODEL_URI`` (where a reload loads from). The model is warmed up here so
    that, with gunicorn's ``preload_app``, workers fork with the compiled kernels already loaded.
    """
    app = Flask(__name__)
    defaults = Limits()
    app.config.update(
        MAX_TEXTS=defaults.max_texts,
        MAX_CHARS=defaults.max_chars,
        MAX_CONTENT_LENGTH=defaults.max_body_bytes,
        MODEL_URI=None,
    )
    app.config.update(config or {})
    limits = Limits(
        max_texts=int(app.config["MAX_TEXTS"]),
        max_chars=int(app.config["MAX_CHARS"]),
        max_body_bytes=int(app.config["MAX_CONTENT_LENGTH"]),
    )
    metrics = metrics or Metrics()
    state = ModelState(model, metrics, uri=app.config["MODEL_URI"])
    app.extensions[EXTENSION] = state
    app.config["LIMITS"] = limits

    from sentiment_mlops.serving import api, v2

    app.register_blueprint(api.bp)
    app.register_blueprint(v2.bp)
    register_error_handlers(app)
    _install_request_hooks(app, metrics)
    return app


def model_state(app: Flask) -> ModelState:
    state: ModelState = app.extensions[EXTENSION]
    return state


def _install_request_hooks(app: Flask, metrics: Metrics) -> None:
    labels: dict[str, str] = {}
    in_flight = metrics.in_flight

    @app.before_request
    def _start() -> None:
        g.start = time.perf_counter()
        g.request_id = request_id_from(request.headers.get("X-Request-ID"))
        in_flight.inc()

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("start", time.perf_counter())
        rule = request.url_rule.rule if request.url_rule is not None else None
        endpoint = labels.get(rule) if rule is not None else None
        if endpoint is None:
            endpoint = endpoint_label(rule)
            if rule is not None:
                labels[rule] = endpoint
        status = response.status_code
        metrics.observe_request(request.method, endpoint, status, elapsed)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if status == 413:
            _drain_body()
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": request.method,
                        "path": request.path,
                        "endpoint": endpoint,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    }
                },
            )
        return response

    @app.teardown_request
    def _done(_exc: BaseException | None) -> None:
        if "start" in g:
            in_flight.dec()


def _drain_body() -> None:
    """Read and drop what is left of a refused body: closing with unread data resets the connection
    and the client would see a reset instead of the 413."""
    stream = request.environ.get("wsgi.input")
    length = request.content_length
    if stream is None or not length or length > DRAIN_LIMIT:
        return
    remaining = length
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
    except OSError:
        pass
