"""CLI error paths: an expected failure prints one ``error: <stage>: ...`` line and exits 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentiment_mlops.cli import app


@pytest.fixture
def project(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder with the repository's params.yaml, as the current directory."""
    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.setenv("SENTIMENT_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("SENTIMENT_DATA_ARCHIVE", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_help_lists_the_stages() -> None:
    code, out, _ = _run("--help")
    assert code == 0
    for command in ("ingest", "split", "train", "evaluate", "register", "promote", "export", "predict"):
        assert command in out


def test_ingest_missing_source(project: Path) -> None:
    code, _, err = _run("ingest", "--source", "/nonexistent")
    assert code == 2
    assert err.strip() == "error: ingest: archive not found: /nonexistent"
    assert not (project / "data").exists()


def test_ingest_bad_checksum(project: Path, corpus_archive: Path) -> None:
    code, _, err = _run("ingest", "--source", str(corpus_archive), "--sha256", "0" * 64)
    assert code == 2
    assert err.startswith("error: ingest: checksum mismatch") and "0" * 64 in err
    assert not (project / "data" / "interim").exists()


def test_bad_params_names_the_key(project: Path) -> None:
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  min_df: 3", "  min_df: 3\n  min_dff: 2"))
    for stage in ("ingest", "split", "train"):
        code, _, err = _run(stage)
        assert code == 2
        assert err.startswith(f"error: {stage}: invalid parameters in {params}")
        assert "features.min_dff" in err


def test_bad_param_value(project: Path) -> None:
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("hash_bits: 24", "hash_bits: 64"))
    code, _, err = _run("train")
    assert code == 2 and "features.hash_bits" in err


def test_missing_params_file(project: Path) -> None:
    (project / "params.yaml").unlink()
    code, _, err = _run("split")
    assert code == 2 and f"parameter file not found: {project / 'params.yaml'}" in err


def test_stages_out_of_order(project: Path) -> None:
    code, _, err = _run("split")
    assert code == 2 and err.startswith("error: split: ") and "data/interim/train.parquet" in err
    code, _, err = _run("train", "--no-track")
    assert code == 2 and err.startswith("error: train: ") and "run the ingest and split stages first" in err
    code, _, err = _run("evaluate", "--no-track")
    assert code == 2 and err.startswith("error: evaluate: not a model directory")


def test_register_needs_an_evaluated_model(project: Path, small_model_dir: Path) -> None:
    # An untracked model is published to the tracking server first, which needs its test metrics.
    shutil.copytree(small_model_dir, project / "models" / "model")
    code, _, err = _run("register")
    assert code == 2 and "error: register: " in err and "run `sentiment evaluate` before registering" in err


def test_console_script_exit_code(project: Path) -> None:
    """The installed ``sentiment`` entry point, as DVC and CI run it."""
    exe = Path(sys.executable).with_name("sentiment")
    result = subprocess.run(
        [str(exe), "ingest", "--source", "/nonexistent"],
        capture_output=True,
        text=True,
        check=False,
        cwd=project,
        env=os.environ.copy(),
        timeout=120,
    )
    assert result.returncode == 2
    assert "error: ingest: archive not found: /nonexistent" in result.stderr
    assert "Traceback" not in result.stderr
