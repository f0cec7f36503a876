"""Fixtures of the data tests: an empty project folder and a tiny archive, no environment leaking in."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiment_mlops.config import Paths
from tests.unit.data.builders import extras, make_archive, reviews


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test states its source explicitly; the developer's environment must not leak in."""
    monkeypatch.delenv("SENTIMENT_DATA_ARCHIVE", raising=False)
    monkeypatch.delenv("SENTIMENT_DATA_SHA256", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    root = tmp_path / "project"
    root.mkdir()
    return Paths(root)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return make_archive(tmp_path / "tiny.tar.gz", reviews() + extras())
