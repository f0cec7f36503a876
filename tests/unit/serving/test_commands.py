"""``sentiment serve``: options and the refusal of a model directory that is not one."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from sentiment_mlops.serving.commands import gunicorn_argv, serve


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(serve)
    return app


def test_serve_refuses_a_folder_without_a_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["--model-uri", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "is not a model directory" in result.output


def test_serve_validates_its_options(small_model_dir: Path) -> None:
    result = CliRunner().invoke(_cli(), ["--model-uri", str(small_model_dir), "--workers", "0"])
    assert result.exit_code == 2  # typer's usage error, before anything starts


def test_gunicorn_command_uses_the_package_config_and_factory() -> None:
    argv = gunicorn_argv()
    assert argv[1:3] == ["-m", "gunicorn"]
    assert "python:sentiment_mlops.serving.gunicorn_conf" in argv
    assert argv[-1] == "sentiment_mlops.serving.wsgi:build_app()"
