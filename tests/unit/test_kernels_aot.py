"""The ahead-of-time compiled kernels (what the container runs) equal the JIT ones exactly."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from sentiment_mlops.model import features, kernels, kernels_aot
from sentiment_mlops.model.artifact import SentimentModel
from tests.unit.test_text_features import EDGE_CASES

pytestmark = pytest.mark.slow  # compiles a C extension (about 10 s of CPU)


@pytest.fixture(scope="module")
def aot(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    library = kernels_aot.build(tmp_path_factory.mktemp("aot"))
    spec = importlib.util.spec_from_file_location(kernels_aot.module_name(), library)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_aot_scores_equal_jit_scores(aot: ModuleType, small_model_dir: Path, small_project: Path) -> None:
    import pandas as pd

    model = SentimentModel.load(small_model_dir)
    reviews = EDGE_CASES + pd.read_parquet(small_project / "data/processed/test.parquet")["text"].tolist()
    buf, offsets = features.encode_batch(reviews)
    args = (buf, offsets, model.spec.ngram_max, model.spec.mask, model.weights, model.bias, model.seen)
    for got, want in zip(aot.score(*args), kernels.score(*args), strict=True):
        np.testing.assert_array_equal(got, want)
    for start, end in itertools.pairwise(offsets):
        want_hashes = kernels.token_hashes(buf, start, end)
        np.testing.assert_array_equal(aot.token_hashes(buf, start, end), want_hashes)


def test_forcing_aot_without_the_extension_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_KERNELS", "aot")
    monkeypatch.setattr(kernels_aot, "module_name", lambda: "_kernels_aot_not_built")
    features._scoring_kernels.cache_clear()
    try:
        with pytest.raises(ImportError, match="is not built"):
            features.token_count("anything")
    finally:
        features._scoring_kernels.cache_clear()
