"""The Flask app factory: receives a loaded model, wires routes, errors, metrics and request ids."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.api import EXTENSION
from sentiment_mlops.serving.metrics import Metrics
from sentiment_mlops.serving.middleware import Instrumented, RuleRecordingRequest
from sentiment_mlops.serving.prediction_log import LogSettings, PredictionLog
from sentiment_mlops.serving.request import register_error_handlers
from sentiment_mlops.serving.schemas import Limits
from sentiment_mlops.serving.shadow import Shadow
from sentiment_mlops.serving.state import ModelState

log = logging.getLogger(__name__)


def create_app(
    model: SentimentModel | None, config: Mapping[str, Any] | None = None, metrics: Metrics | None = None
) -> Flask:
    """Build the app around ``model`` (``None``: not ready, inference answers 503).

    ``config`` keys: ``MAX_TEXTS``, ``MAX_CHARS``, ``MAX_CONTENT_LENGTH`` (bytes, checked before
    the body is read), ``MAX_EXPLAIN_TEXTS``, ``MAX_EXPLAIN_CHARS``, ``MODEL_URI`` (where a reload
    loads from), ``PREDICTION_LOG`` (a :class:`.LogSettings`, ``None``: no log), ``SHADOW_MODEL_URI``
    (a model scored beside the served one, see :mod:`.shadow`; ``None``: none). The model is warmed
    up here so that, with gunicorn's ``preload_app``, workers fork with the compiled kernels already
    loaded.
    """
    app = Flask(__name__)
    app.request_class = RuleRecordingRequest
    defaults = Limits()
    app.config.update(
        MAX_TEXTS=defaults.max_texts,
        MAX_CHARS=defaults.max_chars,
        MAX_CONTENT_LENGTH=defaults.max_body_bytes,
        MAX_EXPLAIN_TEXTS=defaults.max_explain_texts,
        MAX_EXPLAIN_CHARS=defaults.max_explain_chars,
        MODEL_URI=None,
        SHADOW_MODEL_URI=None,
    )
    app.config.update(config or {})
    limits = Limits(
        max_texts=int(app.config["MAX_TEXTS"]),
        max_chars=int(app.config["MAX_CHARS"]),
        max_body_bytes=int(app.config["MAX_CONTENT_LENGTH"]),
        max_explain_texts=int(app.config["MAX_EXPLAIN_TEXTS"]),
        max_explain_chars=int(app.config["MAX_EXPLAIN_CHARS"]),
    )
    metrics = metrics or Metrics()
    settings: LogSettings | None = app.config.get("PREDICTION_LOG")
    plog = PredictionLog(settings, metrics.count_logged, metrics.count_dropped) if settings else None
    state = ModelState(model, metrics, uri=app.config["MODEL_URI"], prediction_log=plog)
    if app.config["SHADOW_MODEL_URI"]:
        # A shadow that fails to load is counted and retried on SIGHUP; the app serves without it.
        shadow = Shadow(str(app.config["SHADOW_MODEL_URI"]), metrics, plog)
        shadow.load()
        state.attach_shadow(shadow)
    app.extensions[EXTENSION] = state
    app.config["LIMITS"] = limits

    from sentiment_mlops.serving import api, v2

    app.register_blueprint(api.bp)
    app.register_blueprint(v2.bp)
    register_error_handlers(app)
    app.wsgi_app = Instrumented(app.wsgi_app, metrics, app)  # type: ignore[method-assign]
    return app


def model_state(app: Flask) -> ModelState:
    state: ModelState = app.extensions[EXTENSION]
    return state
