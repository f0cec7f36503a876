"""The split stage and reading the splits back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.config import Params, Paths, SplitParams
from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.ingest import ingest
from sentiment_mlops.data.splits import read_split, split
from tests.unit.data.builders import make_archive, outputs_left, reviews

# --- split and read_split -------------------------------------------------------------------


@pytest.fixture
def ingested(paths: Paths, tmp_path: Path) -> Paths:
    big = make_archive(tmp_path / "big.tar.gz", reviews(per_folder=30))
    ingest(paths, Params(), source=str(big), sample=40)
    return paths


def test_split_is_stratified_disjoint_and_complete(ingested: Paths) -> None:
    out = split(ingested, Params())
    assert out == {s: ingested.processed / f"{s}.parquet" for s in ("train", "validation", "test")}
    train, val = read_split(ingested, "train"), read_split(ingested, "validation")
    assert len(val) == 8 and len(train) == 32  # validation_fraction 0.2 of 40
    assert val["label"].value_counts().to_dict() == {0: 4, 1: 4}
    assert train["label"].value_counts().to_dict() == {0: 16, 1: 16}
    assert not set(train["id"]) & set(val["id"])
    full = pd.read_parquet(ingested.interim / "train.parquet")
    assert sorted([*train["id"], *val["id"]]) == sorted(full["id"])
    assert out["test"].read_bytes() == (ingested.interim / "test.parquet").read_bytes()
    assert len(read_split(ingested, "unsup")) == 40


def test_split_is_deterministic(ingested: Paths) -> None:
    split(ingested, Params())
    first = {name: (ingested.processed / f"{name}.parquet").read_bytes() for name in ("train", "validation")}
    split(ingested, Params())
    second = {name: (ingested.processed / f"{name}.parquet").read_bytes() for name in ("train", "validation")}
    assert first == second
    split(ingested, Params(split=SplitParams(seed=1)))
    assert (ingested.processed / "validation.parquet").read_bytes() != first["validation"]


def test_split_without_ingest(paths: Paths) -> None:
    with pytest.raises(DataError, match=r"train split not found at .*interim/train\.parquet"):
        split(paths, Params())
    assert outputs_left(paths) == []


def test_read_split_errors(paths: Paths) -> None:
    with pytest.raises(DataError, match=r"unknown split 'dev': choose one of train, validation, test, unsup"):
        read_split(paths, "dev")
    with pytest.raises(DataError, match=r"validation split not found at .*processed/validation\.parquet"):
        read_split(paths, "validation")
    paths.processed.mkdir(parents=True)
    (paths.processed / "test.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"cannot read the test split at .*test\.parquet"):
        read_split(paths, "test")
