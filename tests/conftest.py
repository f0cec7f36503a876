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
