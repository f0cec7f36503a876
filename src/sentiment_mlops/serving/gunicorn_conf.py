"""gunicorn settings for the API, from the environment (``gunicorn -c python:<this module>``).

The app is preloaded in the master: the model (about 64 MB of weights) and the compiled
featuriser are loaded once and shared copy-on-write by the forked workers. ``kill -HUP <master>``
reloads the model in the master (from ``SENTIMENT_MODEL_URI``), then gunicorn forks fresh workers
and drains the old ones gracefully, so no request is dropped.

Environment: ``GUNICORN_BIND`` (127.0.0.1:8000), ``GUNICORN_WORKERS`` (2), ``GUNICORN_THREADS``
(1: sync workers; more: gthread), ``GUNICORN_TIMEOUT`` (30), ``GUNICORN_GRACEFUL_TIMEOUT`` (30),
``GUNICORN_KEEPALIVE`` (5), ``GUNICORN_MAX_REQUESTS`` (0: never recycle) and
``GUNICORN_MAX_REQUESTS_JITTER``, ``PROMETHEUS_MULTIPROC_DIR`` (created if unset).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

# Must happen before prometheus_client is imported anywhere in this process (it picks its
# storage at import): gunicorn imports this module once, at start, before it preloads the app.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sentiment-metrics-")
# Start from an empty metrics folder (a restarted container keeps its emptyDir): samples of a
# previous run must not be counted again. Not in ``on_starting``: that runs after the preload,
# and would delete the samples the master has just written (model gauges).
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
for _stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
    _stale.unlink(missing_ok=True)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", str(max_requests // 10)))
preload_app = True
accesslog = None  # the app writes one JSON line per request itself
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
