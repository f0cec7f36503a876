"""The server's setup happens in explicit calls, not when its modules are imported."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sentiment_mlops.serving.wsgi import prepare_metrics_dir

_IMPORT = """
import json, os, sys
before = dict(os.environ)
import sentiment_mlops.serving.gunicorn_conf, sentiment_mlops.serving.wsgi  # what gunicorn imports first
prometheus = "prometheus_client" in sys.modules  # must wait for prepare_metrics_dir
import sentiment_mlops.serving.app, sentiment_mlops.serving.access_log, logging
print(json.dumps({"env_changed": dict(os.environ) != before, "srcfile": logging._srcfile is not None,
                  "prometheus": prometheus}))
"""


def test_importing_the_server_modules_changes_nothing(tmp_path: Path) -> None:
    stale = tmp_path / "counter_123.db"
    stale.write_bytes(b"samples of a previous run")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(proc.stdout) == {"env_changed": False, "srcfile": True, "prometheus": False}
    assert list((tmp_path / "tmp").iterdir()) == []  # no temporary folder made
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", _IMPORT], env=env, capture_output=True, text=True, check=True)
    assert stale.exists()  # nothing deleted


def test_prepare_metrics_dir_empties_the_folder_of_a_previous_run(tmp_path: Path) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "histogram_live_7.db").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("not a sample file")
    environ = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    assert prepare_metrics_dir(environ) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_prepare_metrics_dir_makes_a_folder_when_none_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delitem(sys.modules, "prometheus_client", raising=False)
    environ: dict[str, str] = {}
    folder = prepare_metrics_dir(environ)
    assert environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
    assert folder.is_dir() and folder.parent == tmp_path


def test_prepare_metrics_dir_refuses_when_it_is_too_late(monkeypatch: pytest.MonkeyPatch) -> None:
    import prometheus_client

    monkeypatch.setitem(sys.modules, "prometheus_client", prometheus_client)
    with pytest.raises(RuntimeError, match="before prometheus_client is imported"):
        prepare_metrics_dir({})


def _gunicorn_config() -> Any:
    """gunicorn's own Config, filled from our config module the way ``-c python:…`` fills it."""
    from gunicorn.config import Config

    from sentiment_mlops.serving import gunicorn_conf

    cfg = Config()
    for name, value in vars(gunicorn_conf).items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg


def test_gunicorn_uses_the_logger_without_its_access_line() -> None:
    from sentiment_mlops.serving.gunicorn_conf import AppLogger

    cfg = _gunicorn_config()
    assert cfg.logger_class is AppLogger
    logger = AppLogger(cfg)
    # gunicorn reads status, headers and environ here (object() has none); ours touches nothing
    logger.access(object(), object(), object(), object())

    class Kept(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    kept = Kept()
    logger.error_log.addHandler(kept)
    try:
        logger.error("a worker failed to boot")  # the rest of gunicorn's logger is unchanged
    finally:
        logger.error_log.removeHandler(kept)
    assert kept.messages == ["a worker failed to boot"]


def test_pre_fork_freezes_the_preloaded_objects() -> None:
    cfg = _gunicorn_config()
    gc.unfreeze()
    try:
        cfg.pre_fork(None, None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("log_on", [True, False])
def test_the_master_prepares_the_log_writer_before_it_binds(
    log_on: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gunicorn.config import Config

    from sentiment_mlops.serving import app, prediction_log

    calls: list[str] = []
    monkeypatch.setattr(prediction_log, "prepare_writer", lambda: calls.append("prepared"))
    monkeypatch.setattr(
        app, "model_state", lambda _app: SimpleNamespace(prediction_log=object() if log_on else None)
    )
    cfg = _gunicorn_config()
    # gunicorn calls on_starting before it creates its listeners, when_ready after
    assert cfg.when_ready is Config().when_ready
    cfg.on_starting(SimpleNamespace(app=SimpleNamespace(wsgi=lambda: "the preloaded app")))
    assert calls == (["prepared"] if log_on else [])
