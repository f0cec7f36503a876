"""A model trained on the full 25,000-review IMDB training split, shared by the behavioural tests."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.model.artifact import SentimentModel


@pytest.fixture(scope="session")
def full_data(tmp_path_factory: pytest.TempPathFactory, imdb_archive: Path) -> Path:
    """A project folder with the whole archive ingested (``data/interim/{train,test,unsup}.parquet``)."""
    from sentiment_mlops.config import Params, Paths
    from sentiment_mlops.data.ingest import ingest

    root = tmp_path_factory.mktemp("full-data")
    ingest(Paths(root), Params(), source=str(imdb_archive))
    return root


@pytest.fixture(scope="session")
def full_model(full_data: Path, repo_root: Path) -> SentimentModel:
    """The model the pipeline trains, on the whole IMDB training data, at one fixed point of
    params.yaml's grid (smallest C, largest nb_alpha, beta and snippet weight), not searched: the
    expectations below must hold for any reasonable model, not one tuned to them.

    The real ``split`` and ``train`` stages run (no MLflow): snippets of the training reviews join
    the fit and the length-aware calibration is fitted on the validation split, as in the pipeline.
    """
    import yaml

    from sentiment_mlops.config import Paths, load_params
    from sentiment_mlops.data.splits import split
    from sentiment_mlops.training import train

    started = time.perf_counter()
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    grid = raw["train"]
    for key, pick in (("C", min), ("nb_alpha", max), ("beta", max), ("snippet_weight", max)):
        grid[key] = [pick(grid[key])]
    (full_data / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    paths, params = Paths(full_data), load_params(full_data / "params.yaml")
    split(paths, params)
    model = train.run(paths, params, track=False)
    reviews = len(pd.read_parquet(full_data / "data" / "interim" / "train.parquet"))
    print(f"\nfull-data model: {reviews:,} reviews, trained in {time.perf_counter() - started:.1f}s")
    return model
