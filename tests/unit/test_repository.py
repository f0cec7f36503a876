"""The workspace tools find the repository's files explicitly and say so when there is no clone."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentiment_mlops.cli import app
from sentiment_mlops.workspace.repository import RepositoryError, find_repository, monitoring_paths
from tests.conftest import REPO_ROOT


def test_the_clone_is_found_from_a_folder_inside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTIMENT_HOME", raising=False)
    assert find_repository(REPO_ROOT / "deploy" / "k8s") == REPO_ROOT
    assert monitoring_paths(REPO_ROOT).rules.is_file()


def test_outside_a_clone_the_error_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTIMENT_HOME", raising=False)
    (tmp_path / "params.yaml").write_text("{}\n")  # a project folder, but no clone: no deploy/, no docs/
    with pytest.raises(RepositoryError, match=rf"no clone of the sentiment-mlops repository in {tmp_path}"):
        find_repository(tmp_path)


def test_sentiment_home_names_the_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_HOME", str(REPO_ROOT))
    assert find_repository(tmp_path) == REPO_ROOT
    monkeypatch.setenv("SENTIMENT_HOME", str(tmp_path))
    with pytest.raises(RepositoryError, match=r"\$SENTIMENT_HOME"):
        find_repository()


def test_monitoring_command_outside_a_clone_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTIMENT_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["monitoring", "render-rule", "--check"])
    assert result.exit_code == 2
    assert "no clone of the sentiment-mlops repository" in result.stderr
