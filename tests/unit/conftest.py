"""The unit tier's fixtures: a project trained on the corpus written in ``tests/fixtures``, and a
scratch copy of ``deploy/`` for the manifest tests to break.

Overrides the session fixture ``small_project`` of ``tests/conftest.py`` for every test below
``tests/unit``, so these tests run the real ingest, split, train and evaluate stages on a small
archive built here, and never read the shared IMDB archive.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.fixtures.corpus import REVIEWS_PER_FOLDER, write_imdb_archive

#: Reviews in each split of the small project (train + validation, test, unsup).
SPLIT_REVIEWS = 2 * REVIEWS_PER_FOLDER


@pytest.fixture(scope="session")
def corpus_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus of ``tests/fixtures/corpus.py`` as an IMDB-layout ``.tar.gz``."""
    return write_imdb_archive(tmp_path_factory.mktemp("corpus") / "aclImdb_v1.tar.gz")


@pytest.fixture(scope="session")
def small_project(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path) -> Path:
    """A project folder where the real pipeline ran (no MLflow) on the test corpus.

    ``<folder>/models/model`` holds a real trained model; tests that need a model use it.
    """
    from sentiment_mlops.config import Paths, load_params
    from sentiment_mlops.data.ingest import ingest
    from sentiment_mlops.data.splits import split
    from sentiment_mlops.training import evaluate, train

    root = tmp_path_factory.mktemp("small-project")
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["features"]["hash_bits"] = 18  # 2**18 buckets are plenty for the corpus's few hundred n-grams
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    paths, params = Paths(root), load_params(root / "params.yaml")
    ingest(paths, params, source=str(corpus_archive), sample=SPLIT_REVIEWS)
    split(paths, params)
    train.run(paths, params, track=False)
    evaluate.run(paths, params, track=False)
    return root


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    """A scratch copy of deploy/ to break on purpose."""
    target = tmp_path / "deploy"
    shutil.copytree(REPO_ROOT / "deploy", target)
    return target
