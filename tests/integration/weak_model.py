"""A known-worse challenger for the integration tests: a real model trained on 60 reviews."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd


def train_weak_project(small_project: Path, root: Path) -> Path:
    """A project whose model is trained like the champion on the first 60 reviews of its training
    split, and evaluated (reports/metrics.json), so the registry can register it."""
    from sentiment_mlops.config import Paths, load_params
    from sentiment_mlops.training import evaluate, train

    shutil.copy(small_project / "params.yaml", root / "params.yaml")
    shutil.copytree(small_project / "data", root / "data")
    train_path = root / "data" / "processed" / "train.parquet"
    train_df = pd.read_parquet(train_path)
    # Both classes in the slice, so the model trains; 60 reviews is far too few to learn much.
    small = pd.concat([train_df[train_df.label == 0].head(30), train_df[train_df.label == 1].head(30)])
    small.to_parquet(train_path)
    paths, params = Paths(root), load_params(root / "params.yaml")
    train.run(paths, params, track=False)
    evaluate.run(paths, params, track=False)
    return root
