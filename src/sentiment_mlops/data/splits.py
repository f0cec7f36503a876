"""The ``split`` stage (validation carved out of train, grouped by movie) and reading the splits back."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from sentiment_mlops.config import Params, Paths
from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.schema import write_parquet
from sentiment_mlops.files import atomic_path

log = logging.getLogger(__name__)

PROCESSED_SPLITS = ("train", "validation", "test")


def split(paths: Paths, params: Params) -> dict[str, Path]:
    """Carve a validation split out of train, stratified by label and grouped by movie; copy test.

    Test reviews are about other movies than train's, so validation holds out whole movies too:
    a random split lets movie-specific n-grams (names, titles) inflate validation accuracy and
    favour weaker regularisation. ``validation_fraction`` is rounded to 1/k for k-fold grouping.
    Writes ``processed/{train,validation,test}.parquet``; the same inputs and parameters give
    byte-identical files.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    train = _read(paths.interim / "train.parquet", "train")
    test_src = paths.interim / "test.parquet"
    if not test_src.is_file():
        raise DataError(f"test split not found at {test_src}: run the ingest stage first")
    labels = set(train["label"].unique().tolist())
    if not labels <= {0, 1} or len(labels) < 2:
        raise DataError(f"train split must hold labels 0 and 1 to stratify on, found {sorted(labels)}")
    if "movie" not in train.columns:
        raise DataError("train split has no 'movie' column: rerun the ingest stage")

    folds = max(2, round(1 / params.split.validation_fraction))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=params.split.seed)
    try:
        fit_idx, val_idx = next(splitter.split(train, train["label"].to_numpy(), train["movie"].to_numpy()))
    except ValueError as exc:  # fewer movies than folds
        raise DataError(f"cannot split train into {folds} folds by movie: {exc}") from exc
    out = paths.processed
    outputs = {
        "train": write_parquet(train.iloc[np.sort(fit_idx)], out / "train.parquet"),
        "validation": write_parquet(train.iloc[np.sort(val_idx)], out / "validation.parquet"),
        "test": out / "test.parquet",
    }
    _copy(test_src, outputs["test"])
    log.info("split train into %s train and %s validation reviews", f"{len(fit_idx):,}", f"{len(val_idx):,}")
    return outputs


def _read(path: Path, name: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{name} split not found at {path}: run the ingest and split stages first")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for an unreadable file
        raise DataError(f"cannot read the {name} split at {path}: {exc}") from exc


def read_split(paths: Paths, name: str) -> pd.DataFrame:
    """Load one split: ``train``, ``validation`` or ``test`` (processed) or ``unsup`` (interim)."""
    locations: dict[str, Callable[[], Path]] = {
        "train": lambda: paths.processed / "train.parquet",
        "validation": lambda: paths.processed / "validation.parquet",
        "test": lambda: paths.processed / "test.parquet",
        "unsup": lambda: paths.interim / "unsup.parquet",
    }
    if name not in locations:
        raise DataError(f"unknown split {name!r}: choose one of {', '.join(locations)}")
    return _read(locations[name](), name)


def _copy(src: Path, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
