"""Fixtures shared by every test: project paths, the read-only shared data, free loopback ports;
and the tiers: a test without a tier marker (slow, integration, container, shared) is in the fast
tier, which runs under the guard of :mod:`tests.hermetic`."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from sentiment_mlops.processes import free_port
from tests.hermetic import TIER_MARKERS, Guard

__all__ = ["REPO_ROOT", "free_port", "shared_dir"]

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Fixtures that hand out the shared material: a test using one is in the ``shared`` tier.
SHARED_FIXTURES = {"shared", "imdb_archive", "nasa_trace"}


def shared_dir() -> Path:
    """The read-only shared material (``../shared`` beside the repository, or ``$SENTIMENT_SHARED_DIR``)."""
    return Path(os.environ.get("SENTIMENT_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


_GUARD = Guard(shared_dir())


def pytest_configure(config: pytest.Config) -> None:
    _GUARD.install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared)


def _in_fast_tier(item: pytest.Item) -> bool:
    return not any(item.get_closest_marker(name) for name in TIER_MARKERS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    with _GUARD.watching() if _in_fast_tier(item) else contextlib.nullcontext():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    with _GUARD.watching() if _in_fast_tier(item) else contextlib.nullcontext():
        return (yield)


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
