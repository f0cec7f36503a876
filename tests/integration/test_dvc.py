"""DVC remote: push the full run's data and model, pull them into a fresh clone, nothing to redo."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from sentiment_mlops.model.artifact import SentimentModel
from tests.integration.dvc_project import DvcProject, build

pytestmark = [pytest.mark.slow, pytest.mark.integration]

UP_TO_DATE = "Data and pipelines are up to date."


@pytest.fixture(scope="session")
def dvc_project(tmp_path_factory: pytest.TempPathFactory, imdb_archive: Path) -> DvcProject:
    return build(tmp_path_factory.mktemp("dvc"), imdb_archive)


def test_push_then_pull_into_a_fresh_clone(dvc_project: DvcProject, tmp_path: Path) -> None:
    project = dvc_project
    out = project.run("dvc", "push").stdout  # to the default remote of .dvc/config
    storage = project.root / ".dvc-storage"
    assert storage.is_dir() and any(storage.rglob("*")), out
    assert project.run("dvc", "status", "--cloud").stdout.strip() == "Cache and remote 'local' are in sync."

    clone = tmp_path / "clone"
    project.run("git", "clone", "-q", str(project.root), str(clone), cwd=tmp_path)
    # git holds no pipeline output: of data/ only the labelled folder's README, no model
    assert not (clone / "models").exists()
    assert sorted(p.relative_to(clone).as_posix() for p in (clone / "data").rglob("*")) == [
        "data/labelled",
        "data/labelled/README.md",
    ]
    # The clone's default remote is its own (empty) folder; point it at the one pushed to.
    project.run("dvc", "remote", "modify", "--local", "local", "url", str(storage), cwd=clone)
    project.run("dvc", "pull", cwd=clone)
    project.run("sentiment", "fetch", cwd=clone)  # the raw archive is an input, never pushed

    assert project.run("dvc", "status", cwd=clone).stdout.strip() == UP_TO_DATE
    repro = project.run("dvc", "repro", cwd=clone).stdout
    assert "Running stage" not in repro and UP_TO_DATE in repro

    for rel in ("data/interim", "data/processed", "models/model"):
        cmp = filecmp.dircmp(project.root / rel, clone / rel)
        assert not (cmp.left_only or cmp.right_only or cmp.diff_files), rel
    original = SentimentModel.load(project.root / "models" / "model")
    restored = SentimentModel.load(clone / "models" / "model")
    reviews = ["A wonderful, moving film.", "Dull and far too long."]
    assert restored.version == original.version
    assert restored.predict_proba(reviews).tolist() == original.predict_proba(reviews).tolist()
