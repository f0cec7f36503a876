"""The compiled kernels against the pure-Python reference: identical buckets, probabilities within 1e-6."""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sentiment_mlops.model import features, kernels
from sentiment_mlops.model import tokenizer as text
from sentiment_mlops.model.artifact import SentimentModel, sigmoid
from sentiment_mlops.model.features import FeaturizerSpec, ScoringTable
from tests.unit.test_text_features import EDGE_CASES

# Characters that exercise every rule: tags, apostrophes, dot runs, punctuation, case, non-ASCII.
ALPHABET = [*"aAzZ09 <>/'.!?,;:()\"*-_\t\n", "é", "😀", "\ud800", "<br />", "...", "n't"]


def _fuzzed(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 80))) for _ in range(count)]


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch):
    """Switch this process to the reference kernels for one test."""
    monkeypatch.setenv("SENTIMENT_KERNELS", "python")
    kernels.load.cache_clear()
    yield
    monkeypatch.delenv("SENTIMENT_KERNELS")
    kernels.load.cache_clear()


def _compiled_buckets(review: str, ngram_max: int, hash_bits: int) -> list[int]:
    module, _ = kernels.load()
    raw = text.encode(review)
    out = np.empty((len(raw) + 1) * ngram_max, np.uint32)
    n = module.ngram_buckets(raw, ngram_max, (1 << hash_bits) - 1, out)
    return out[:n].tolist()


@pytest.mark.parametrize(("ngram_max", "hash_bits"), [(1, 10), (2, 18), (3, 24), (4, 31)])
def test_buckets_are_identical_to_the_reference(ngram_max: int, hash_bits: int) -> None:
    for review in EDGE_CASES + _fuzzed(300, seed=hash_bits):
        want = text.ngram_buckets(review, ngram_max, hash_bits)
        assert _compiled_buckets(review, ngram_max, hash_bits) == want, repr(review)


def test_the_benchmark_parts_give_the_reference_buckets() -> None:
    """``hash_batch`` (bench-kernels' floor parts): every n-gram's bucket, or the distinct ones in
    first-seen order as scoring finds them."""
    module, _ = kernels.load()
    reviews = EDGE_CASES + _fuzzed(200, seed=7)
    buf, offsets = features.encode_batch(reviews)
    out, per_doc = np.empty((len(buf) + len(reviews)) * 3, np.uint32), np.empty(len(reviews), np.int64)
    for distinct in (False, True):
        total = module.hash_batch(buf, offsets, 3, (1 << 20) - 1, out, per_doc, distinct)
        assert total == per_doc.sum()
        at = 0
        for review, n in zip(reviews, per_doc.tolist(), strict=True):
            want = text.ngram_buckets(review, 3, 20)
            assert out[at : at + n].tolist() == (list(dict.fromkeys(want)) if distinct else want), repr(
                review
            )
            at += n


def test_token_hashes_and_spans_follow_the_reference() -> None:
    module, _ = kernels.load()
    for review in EDGE_CASES + _fuzzed(200):
        raw = text.encode(review)
        hashes, spans = np.empty(len(raw) + 1, np.uint64), np.empty((len(raw) + 1, 2), np.int64)
        n = module.token_hashes(raw, hashes, spans)
        tokens = text.tokenize(review)
        assert hashes[:n].tolist() == [text.token_hash(t) for t in tokens], repr(review)
        assert [features._token_text(raw, s) for s in spans[:n]] == tokens
        assert features.token_count(review) == len(tokens)


def _model(hash_bits: int = 16, density: float = 0.05) -> SentimentModel:
    spec = FeaturizerSpec(3, hash_bits)
    rng = np.random.default_rng(hash_bits)
    weights = np.where(rng.random(spec.n_features) < density, rng.normal(size=spec.n_features), 0)
    seen = np.packbits(rng.random(spec.n_features) < 0.5, bitorder="little")
    return SentimentModel(spec, weights.astype(np.float32), -0.3, seen)


def _reviews(small_project: Path) -> list[str]:
    import pandas as pd

    test = pd.read_parquet(small_project / "data/processed/test.parquet")["text"].tolist()
    return EDGE_CASES + _fuzzed(100) + test


def test_scores_match_the_reference(small_model_dir: Path, small_project: Path, reference) -> None:
    reviews = _reviews(small_project)
    for model in (SentimentModel.load(small_model_dir), _model(density=1.0), _model(density=0.001)):
        want = model.score(reviews)
        kernels.load.cache_clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SENTIMENT_KERNELS", "compiled")
            fresh = SentimentModel(model.spec, model.weights, model.bias, model.seen)
            got = fresh.score(reviews)
            assert kernels.info().implementation == "compiled"
        kernels.load.cache_clear()
        np.testing.assert_allclose(sigmoid(got.logits), sigmoid(want.logits), rtol=0, atol=1e-6)
        for name in ("n_tokens", "n_ngrams", "n_unseen"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


def test_the_single_review_path_matches_the_reference(small_project: Path, reference) -> None:
    """``score_one`` / ``predict_one`` / ``predict([x])`` / ``score_lists``: the reference's counts,
    P within 1e-6."""
    reviews = [*_reviews(small_project)[:400], "a great film " * 8000]  # > 64 KB: scored without the GIL
    model = _model(hash_bits=18, density=0.3)
    want = model.score(reviews)
    assert model.score_one(reviews[0])[1:] == (want.n_tokens[0], want.n_ngrams[0], want.n_unseen[0])
    kernels.load.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SENTIMENT_KERNELS", "compiled")
        for layout in ("dense", "compact"):
            patch.setenv("SENTIMENT_WEIGHT_TABLE", layout)
            fresh = SentimentModel(model.spec, model.weights, model.bias, model.seen)
            assert fresh.table.layout == layout
            for d, review in enumerate(reviews):
                logit, n_tokens, n_ngrams, n_unseen = fresh.score_one(review)
                counts = (want.n_tokens[d], want.n_ngrams[d], want.n_unseen[d])
                assert (n_tokens, n_ngrams, n_unseen) == counts
                p = float(sigmoid(want.logits[d]))
                assert abs(fresh.probability(logit, n_ngrams) - p) <= 1e-6, repr(review)
                one = fresh.predict_one(review)
                assert fresh.predict([review]) == [one]
                assert abs(one.probability - p) <= 1e-6 and one.n_ngrams == n_ngrams
                assert fresh.predict_proba([review]).tolist() == [one.probability]
                assert fresh.score_lists([review]) == ([one.probability], [n_tokens], [n_ngrams], [n_unseen])
            batch = fresh.score_lists(reviews)  # the batch call: the same counts, the same P
            assert (batch.n_tokens, batch.n_ngrams, batch.n_unseen) == tuple(
                getattr(want, name).tolist() for name in ("n_tokens", "n_ngrams", "n_unseen")
            )
            np.testing.assert_allclose(batch.probabilities, sigmoid(want.logits), rtol=0, atol=1e-6)
    kernels.load.cache_clear()


def test_the_single_review_scorer_refuses_bad_input() -> None:
    module, _ = kernels.load()
    model = _model(hash_bits=12)
    with pytest.raises(TypeError, match="not str"):
        model.score_one(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask"):
        module.Scorer(3, 1000, model.weights, True, model.seen, 0.0, True)
    with pytest.raises(ValueError, match="shorter"):
        module.Scorer(3, int(model.spec.mask), model.weights[:10], True, model.seen, 0.0, True)


def test_a_thread_count_per_batch_gives_the_same_scores(small_project: Path) -> None:
    model = _model()
    reviews = _reviews(small_project) * 40  # well over the 64 KB at which a batch is split
    one, two = model.score(reviews, threads=1), model.score(reviews, threads=2)
    for name in ("logits", "n_tokens", "n_ngrams", "n_unseen"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))


def test_parallel_batch_and_buffer_scoring_equal_one_thread(small_project: Path) -> None:
    module, _ = kernels.load()
    model = _model()
    reviews = _reviews(small_project)
    while sum(len(r) for r in reviews) < 256 * 1024:  # well over the 64 KB at which a batch is split
        reviews = reviews * 2
    runs = []
    for layout in ("dense", "compact"):
        table = ScoringTable.build(model.weights, model.seen, layout)
        for threads, prefetch in ((1, False), (2, True), (7, False)):
            out = features._outputs(len(reviews))
            module.score_texts(reviews, 3, int(model.spec.mask), *table.kernel_args(), model.bias,
                               *features._raw(out), threads, prefetch)  # fmt: skip
            runs.append(out)
        buf, offsets = features.encode_batch(reviews)
        runs.append(features.score_buffer(buf, offsets, model.spec, table, model.bias))
    for other in runs[1:]:
        for name in ("logits", "n_tokens", "n_ngrams", "n_unseen"):
            np.testing.assert_array_equal(getattr(other, name), getattr(runs[0], name))


def test_explanations_match_the_reference(small_model_dir: Path, small_project: Path) -> None:
    model = SentimentModel.load(small_model_dir)
    reviews = _reviews(small_project)[:300]
    got = [model.explain(r, top_k=10) for r in reviews]
    want = [features._reference_explain(r, model.spec, model.weights, 10) for r in reviews]
    assert got == want


def test_training_matrix_matches_the_reference(reference) -> None:
    reviews = EDGE_CASES + _fuzzed(100)
    for spec in (FeaturizerSpec(3, 20), FeaturizerSpec(2, 12, binary=False)):
        want = features.featurize(reviews, spec)
        kernels.load.cache_clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SENTIMENT_KERNELS", "compiled")
            got = features.featurize(reviews, spec)
        kernels.load.cache_clear()
        assert (got != want).nnz == 0


def test_the_compact_table_holds_exactly_the_nonzero_weights() -> None:
    model = _model(hash_bits=12, density=0.2)
    slots = ScoringTable.build(model.weights, model.seen, "compact").slots
    assert slots is not None and len(slots) >= 2 * np.count_nonzero(model.weights)
    keys = (slots >> np.uint64(32)).astype(np.uint32)
    used = keys != 0xFFFFFFFF
    stored = (slots[used] & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.float32)
    assert sorted(keys[used].tolist()) == np.flatnonzero(model.weights).tolist()
    np.testing.assert_array_equal(stored, model.weights[keys[used]])


def test_an_unknown_choice_or_thread_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="dense, compact"):
        ScoringTable.build(np.zeros(8, np.float32), np.zeros(1, np.uint8), "sparse")
    kernels.load.cache_clear()
    monkeypatch.setenv("SENTIMENT_KERNELS", "jit")
    with pytest.raises(kernels.KernelsError, match="compiled, python"):
        kernels.load()
    monkeypatch.setenv("SENTIMENT_KERNELS", "compiled")
    monkeypatch.setenv("SENTIMENT_KERNEL_THREADS", "lots")
    with pytest.raises(kernels.KernelsError, match="SENTIMENT_KERNEL_THREADS"):
        kernels.load()
    kernels.load.cache_clear()


def test_missing_compiled_kernels_fail_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    kernels.load.cache_clear()
    monkeypatch.setattr(kernels, "MODULE", "sentiment_mlops.model._kernels_not_built")
    monkeypatch.setattr(kernels, "_candidates", list)
    with pytest.raises(kernels.KernelsError, match="SENTIMENT_KERNELS=python"):
        kernels.load()
    kernels.load.cache_clear()


def test_the_reference_is_used_only_when_asked_and_says_so(reference, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger=kernels.__name__):
        assert kernels.info().implementation == "python"
    assert "pure-Python reference" in caplog.text


def test_a_source_copy_without_the_extension_uses_the_installed_one(tmp_path: Path) -> None:
    """What an MLflow pyfunc does: its logged source copy (no ``*.so``) comes first on sys.path."""
    package = Path(features.__file__).parents[1]
    shutil.copytree(package, tmp_path / package.name, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    probe = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout);"
        "from sentiment_mlops.model import features, kernels;"
        "print(features.__file__); print(kernels.info().implementation)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[0].startswith(str(tmp_path)), out
    assert out.splitlines()[-1] == "compiled", out
    assert "no compiled kernels" in out and "using the installed ones" in out
