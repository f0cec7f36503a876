"""gunicorn settings for the API, from the environment (``gunicorn -c python:<this module>``).

The app is preloaded in the master: the model (about 64 MB of weights) and the compiled
featuriser are loaded once and shared copy-on-write by the forked workers. ``kill -HUP <master>``
reloads the model in the master (from ``SENTIMENT_MODEL_URI``), then gunicorn forks fresh workers
and drains the old ones gracefully, so no request is dropped.

Environment: ``GUNICORN_BIND`` (127.0.0.1:8000), ``GUNICORN_WORKERS`` (2), ``GUNICORN_THREADS``
(1: sync workers; more: gthread), ``GUNICORN_TIMEOUT`` (30), ``GUNICORN_GRACEFUL_TIMEOUT`` (30),
``GUNICORN_KEEPALIVE`` (5), ``GUNICORN_MAX_REQUESTS`` (0: never recycle) and
``GUNICORN_MAX_REQUESTS_JITTER``. Importing this module only reads settings; the metrics folder
(``PROMETHEUS_MULTIPROC_DIR``) is prepared by the app factory gunicorn calls, see
:func:`sentiment_mlops.serving.wsgi.prepare_metrics_dir`.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from sentiment_mlops.config import ServerSettings

_settings = ServerSettings.from_env()  # the GUNICORN_* variables and their defaults
bind = _settings.bind
workers = _settings.workers
threads = _settings.threads
worker_class = "gthread" if threads > 1 else "sync"
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
keepalive = _settings.keepalive
max_requests = _settings.max_requests
max_requests_jitter = _settings.jitter
preload_app = True
accesslog = None  # the app writes one JSON line per request itself


class AppLogger(Logger):
    """gunicorn's logger without its access line. The app writes one JSON line per request
    (:mod:`.access_log`), and gunicorn, configured through ``logconfig_dict``, builds its own
    line's atoms for every request before the ``gunicorn.access`` level drops it: about 10% of
    a worker's time under load (py-spy)."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Nothing: the app has already written this request's line."""


logger_class = AppLogger
errorlog = "-"
proc_name = "sentiment-api"
# gunicorn's control socket (gunicornc) is off unless asked for: a fixed path would be shared by
# every server on the host.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"  # heartbeat files off a possibly slow or read-only disk
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "sentiment_mlops.serving.access_log.JsonFormatter"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "root": {"level": os.environ.get("LOG_LEVEL", "INFO").upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        # one JSON line per request comes from the app; gunicorn's access line would double it
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}

log = logging.getLogger("sentiment_mlops.serving.gunicorn")


def on_starting(server: Any) -> None:
    """In the master, after the app is preloaded and before it binds its socket: with the
    prediction log on, import what its writer thread needs, so the workers inherit it instead of
    each importing it (holding the GIL) as it writes its first segment. Before the bind, so while
    this runs (seconds on a busy machine) the port refuses connections rather than accepting ones
    that nobody answers."""
    from sentiment_mlops.serving.app import model_state
    from sentiment_mlops.serving.prediction_log import prepare_writer

    if model_state(server.app.wsgi()).prediction_log is not None:
        prepare_writer()


def pre_fork(server: Any, worker: Any) -> None:
    """In the master, right before each fork: move every object the preloaded app made into the
    collector's permanent generation (:func:`gc.freeze`). The workers' collections then never
    walk them, so no worker pauses for a full collection of the app's objects (80-180 ms each,
    once per worker), nor writes to their pages (which keeps them shared copy-on-write)."""
    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    """A worker died (recycled, killed, drained): fold its samples into the archive files."""
    from sentiment_mlops.serving.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def worker_exit(server: Any, worker: Any) -> None:
    """In the worker, as it exits (SIGTERM, recycling, a reload's graceful stop): write the rows
    its prediction log still holds, so a draining pod flushes before it goes."""
    from sentiment_mlops.serving.app import model_state

    plog = model_state(server.app.wsgi()).prediction_log
    if plog is not None:
        plog.close(timeout=graceful_timeout)


def on_reload(server: Any) -> None:
    """SIGHUP: load the model again in the master before gunicorn forks the new workers."""
    from sentiment_mlops.serving.app import model_state

    app = server.app.wsgi()
    ok = model_state(app).reload()
    log.info("reload: %s", "new model loaded" if ok else "kept the previous model")
