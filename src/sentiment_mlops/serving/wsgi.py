"""The gunicorn entry point: ``sentiment_mlops.serving.wsgi:build_app()``.

Settings come from the environment: ``SENTIMENT_MODEL_URI`` (a model directory or a registry URI,
default ``models/export``), ``SENTIMENT_MAX_TEXTS``, ``SENTIMENT_MAX_CHARS``,
``SENTIMENT_MAX_BODY_BYTES``, ``LOG_LEVEL`` and the prediction log's ``SENTIMENT_PREDICTION_LOG*``
(see :class:`.prediction_log.LogSettings`).
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from sentiment_mlops.serving.prediction_log import LogSettings
from sentiment_mlops.serving.schemas import Limits

log = logging.getLogger(__name__)

DEFAULT_MODEL_URI = "models/export"


def config_from_env() -> dict[str, object]:
    defaults = Limits()
    return {
        "MODEL_URI": os.environ.get("SENTIMENT_MODEL_URI", DEFAULT_MODEL_URI),
        "MAX_TEXTS": int(os.environ.get("SENTIMENT_MAX_TEXTS", defaults.max_texts)),
        "MAX_CHARS": int(os.environ.get("SENTIMENT_MAX_CHARS", defaults.max_chars)),
        "MAX_CONTENT_LENGTH": int(os.environ.get("SENTIMENT_MAX_BODY_BYTES", defaults.max_body_bytes)),
        "PREDICTION_LOG": LogSettings.from_env(),
    }


def build_app() -> Flask:
    """Configure JSON logging, load the model named by the environment, build the app."""
    from sentiment_mlops.registry.versions import load_model
    from sentiment_mlops.serving.access_log import configure_logging
    from sentiment_mlops.serving.app import create_app

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    config = config_from_env()
    uri = str(config["MODEL_URI"])
    model = load_model(uri)
    app = create_app(model, config)
    log.info("model loaded from %s: version %s", uri, model.version)
    return app
