"""The gunicorn entry point: ``sentiment_mlops.serving.wsgi:build_app()``.

Settings come from the environment: ``SENTIMENT_MODEL_URI`` (a model directory or a registry URI,
default :data:`sentiment_mlops.config.DEFAULT_MODEL_URI`), ``SENTIMENT_SHADOW_MODEL_URI`` (a model
scored beside it on every request, never answering; unset: none), ``SENTIMENT_MAX_TEXTS``,
``SENTIMENT_MAX_CHARS``, ``SENTIMENT_MAX_BODY_BYTES``, ``SENTIMENT_MAX_EXPLAIN_TEXTS``,
``SENTIMENT_MAX_EXPLAIN_CHARS``,
``LOG_LEVEL``, ``PROMETHEUS_MULTIPROC_DIR`` (a new temporary folder if unset) and the prediction
log's ``SENTIMENT_PREDICTION_LOG*`` (see :class:`.prediction_log.LogSettings`).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from flask import Flask

from sentiment_mlops.config import DEFAULT_MODEL_URI, MODEL_URI_ENV, shadow_model_uri
from sentiment_mlops.serving.prediction_log import LogSettings
from sentiment_mlops.serving.schemas import Limits

log = logging.getLogger(__name__)


def config_from_env() -> dict[str, object]:
    defaults = Limits()
    return {
        "MODEL_URI": os.environ.get(MODEL_URI_ENV, DEFAULT_MODEL_URI),
        "SHADOW_MODEL_URI": shadow_model_uri(),
        "MAX_TEXTS": int(os.environ.get("SENTIMENT_MAX_TEXTS", defaults.max_texts)),
        "MAX_CHARS": int(os.environ.get("SENTIMENT_MAX_CHARS", defaults.max_chars)),
        "MAX_CONTENT_LENGTH": int(os.environ.get("SENTIMENT_MAX_BODY_BYTES", defaults.max_body_bytes)),
        "PREDICTION_LOG": LogSettings.from_env(),
        "MAX_EXPLAIN_TEXTS": int(os.environ.get("SENTIMENT_MAX_EXPLAIN_TEXTS", defaults.max_explain_texts)),
        "MAX_EXPLAIN_CHARS": int(os.environ.get("SENTIMENT_MAX_EXPLAIN_CHARS", defaults.max_explain_chars)),
    }


def prepare_metrics_dir(environ: MutableMapping[str, str] = os.environ) -> Path:
    """Give prometheus_client's multiprocess mode an empty folder (``PROMETHEUS_MULTIPROC_DIR``,
    created if unset) and return it.

    Called once per server, in the gunicorn master before the app is built: prometheus_client
    picks its storage when it is first imported, and the workers forked later inherit the
    variable. Samples of a previous run (a restarted container keeps its emptyDir) are deleted so
    they are not counted again; after this call the master writes its own (model gauges).
    """
    if not environ.get("PROMETHEUS_MULTIPROC_DIR"):
        if "prometheus_client" in sys.modules:
            raise RuntimeError("PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is imported")
        environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sentiment-metrics-")
    folder = Path(environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)
    return folder


def build_app() -> Flask:
    """Prepare the metrics folder, configure JSON logging, load the model named by the
    environment, build the app (gunicorn calls this once, in the master: ``preload_app``)."""
    prepare_metrics_dir()
    from sentiment_mlops.registry.versions import load_model
    from sentiment_mlops.serving.access_log import configure_logging
    from sentiment_mlops.serving.app import create_app

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    config = config_from_env()
    uri = str(config["MODEL_URI"])
    model = load_model(uri)
    app = create_app(model, config)
    log.info("model loaded from %s: version %s", uri, model.version)
    if config["SHADOW_MODEL_URI"]:
        log.info("shadow model from %s scores every request beside it", config["SHADOW_MODEL_URI"])
    return app
