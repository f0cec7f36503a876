"""A model trained on the full 25,000-review IMDB training split, shared by the behavioural tests."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
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
    """The NBSVM model fitted on all 25,000 training reviews with params.yaml's features.

    One fixed point of params.yaml's grid (smallest C, largest nb_alpha and beta), not searched:
    the expectations below must hold for any reasonable model, not one tuned to them.
    """
    from sentiment_mlops.config import load_params
    from sentiment_mlops.model import features
    from sentiment_mlops.model.artifact import seen_bitmap
    from sentiment_mlops.model.features import FeaturizerSpec
    from sentiment_mlops.training import train

    started = time.perf_counter()
    params = load_params(repo_root / "params.yaml")
    reviews = pd.read_parquet(full_data / "data" / "interim" / "train.parquet")
    spec = FeaturizerSpec(params.features.ngram_max, params.features.hash_bits, params.features.binary)
    fitted = train.fit_nbsvm(
        features.featurize(reviews["text"].tolist(), spec),
        reviews["label"].to_numpy(np.int64),
        C=min(params.train.C),
        nb_alpha=max(params.train.nb_alpha),
        beta=max(params.train.beta),
        min_df=params.features.min_df,
        max_iter=params.train.max_iter,
    )
    seen = seen_bitmap(fitted.seen_buckets, spec.n_features)
    print(f"\nfull-data model: {len(reviews):,} reviews, fitted in {time.perf_counter() - started:.1f}s")
    return SentimentModel(spec, fitted.weights, fitted.bias, seen)
