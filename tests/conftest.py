"""Fixtures shared by every test: project paths, the read-only shared data, free loopback ports."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The read-only shared material (``../shared`` beside the repository, or ``$SENTIMENT_SHARED_DIR``)."""
    return Path(os.environ.get("SENTIMENT_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not path.is_dir():
        pytest.fail(f"shared material not found at {path}; set SENTIMENT_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def imdb_archive(shared: Path) -> Path:
    """The IMDB archive: ``$SENTIMENT_DATA_ARCHIVE`` if set, else the shared re-pack."""
    env = os.environ.get("SENTIMENT_DATA_ARCHIVE")
    path = Path(env).resolve() if env else shared / "data" / "imdb" / "aclImdb_v1.tar.gz"
    if not path.is_file():
        pytest.fail(f"IMDB archive not found at {path}")
    return path


@pytest.fixture(scope="session")
def nasa_trace(shared: Path) -> Path:
    path = shared / "data" / "traces" / "nasa_http_1995_per_minute.csv"
    if not path.is_file():
        pytest.fail(f"NASA trace not found at {path}")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def small_project(tmp_path_factory: pytest.TempPathFactory, imdb_archive: Path) -> Path:
    """A project folder where the real pipeline ran (no MLflow) on a 2,000-review sample per split.

    ``<folder>/models/model`` holds a real trained model; tests that need a model use it.
    """
    from sentiment_mlops.config import Paths, load_params
    from sentiment_mlops.data.ingest import ingest
    from sentiment_mlops.data.splits import split
    from sentiment_mlops.training import evaluate, train

    root = tmp_path_factory.mktemp("small-project")
    (root / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    paths, params = Paths(root), load_params(root / "params.yaml")
    ingest(paths, params, source=str(imdb_archive), sample=2000)
    split(paths, params)
    train.run(paths, params, track=False)
    evaluate.run(paths, params, track=False)
    return root


@pytest.fixture(scope="session")
def small_model_dir(small_project: Path) -> Path:
    """A real model trained on a 2,000-review sample (see ``small_project``)."""
    return small_project / "models" / "model"
