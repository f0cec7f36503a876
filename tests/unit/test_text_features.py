"""The compiled featuriser must reproduce the reference tokenizer and hashing exactly."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from sentiment_mlops.model import features
from sentiment_mlops.model import tokenizer as text
from sentiment_mlops.model.features import FeaturizerSpec

EDGE_CASES = [
    "",
    "!!!!",
    "I didn't like it!!! <br /><br />Not GOOD at all?",
    "Café crème's great'",
    "a<b",
    "<i>x</i>y'",
    "it's '' ' 'tis",
    "x<" + "a" * 32 + ">y",  # longest tag that is stripped
    "x<" + "a" * 33 + ">y",  # one byte too long: '<' and '>' are plain separators
    "<<br>>",
    "don'<b>t",
    "MIXED case WORDS",
    "emoji 😀 and surrogate \ud800 stay words",
    "tabs\tand\nnew lines\r\nsplit",
    "numbers 10/10 and 7.5",
    "Wait... what?! .... . .. end.",
    '(sigh) - "great" *spoiler*, well; ok: fine',
    "trailing dots..",
]


def _real_reviews(archive: Path, limit: int) -> list[str]:
    reviews: list[str] = []
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            name = member.name
            if member.isfile() and name.endswith(".txt") and ("/train/pos/" in name or "/train/neg/" in name):
                handle = tar.extractfile(member)
                assert handle is not None
                reviews.append(handle.read().decode("utf-8"))
                if len(reviews) >= limit:
                    break
    return reviews


def test_tokenizer_rules() -> None:
    assert text.tokenize("I didn't like it!!! <br /><br />Not GOOD?") == [
        b"i",
        b"didn't",
        b"like",
        b"it",
        b"!",
        b"!",
        b"!",
        b"not",
        b"good",
        b"?",
    ]
    assert text.tokenize("<i>x</i>y") == [b"x", b"y"]
    assert text.tokenize("'quoted' rock'n'roll") == [b"quoted", b"rock'n'roll"]
    assert text.tokenize('Wait.... what?! (sigh) "fine", 7.5') == [
        b"wait",
        b"...",
        b"what",
        b"?",
        b"!",
        b"(",
        b"sigh",
        b")",
        b'"',
        b"fine",
        b'"',
        b",",
        b"7",
        b".",
        b"5",
    ]


def test_ngram_hash_depends_on_order() -> None:
    a, b = text.token_hash(b"not"), text.token_hash(b"good")
    assert text.ngram_hash((a, b)) != text.ngram_hash((b, a))
    assert text.ngram_hash((a,)) != a  # unigrams are mixed too, so orders do not collide by design


@pytest.mark.parametrize("ngram_max,hash_bits", [(1, 18), (2, 20), (3, 22)])
def test_compiled_matches_reference_on_edge_cases(ngram_max: int, hash_bits: int) -> None:
    spec = FeaturizerSpec(ngram_max, hash_bits)
    matrix = features.featurize(EDGE_CASES, spec)
    for row, review in enumerate(EDGE_CASES):
        got = sorted(matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]].tolist())
        assert got == sorted(set(text.ngram_buckets(review, ngram_max, hash_bits))), review


def test_compiled_matches_reference_on_real_reviews(imdb_archive: Path) -> None:
    reviews = _real_reviews(imdb_archive, 500)
    spec = FeaturizerSpec(3, 22)
    matrix = features.featurize(reviews, spec)
    for row, review in enumerate(reviews):
        got = sorted(matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]].tolist())
        assert got == sorted(set(text.ngram_buckets(review, 3, 22)))
    counts = features.featurize(reviews[:20], FeaturizerSpec(3, 22, binary=False))
    for row, review in enumerate(reviews[:20]):
        assert counts[row].sum() == len(text.ngram_buckets(review, 3, 22))


def test_score_equals_sparse_dot_product() -> None:
    spec = FeaturizerSpec(3, 16)
    rng = np.random.default_rng(0)
    weights = rng.normal(size=spec.n_features).astype(np.float32)
    seen = np.packbits(rng.random(spec.n_features) < 0.5, bitorder="little")
    scores = features.score(EDGE_CASES, spec, weights, 0.25, seen)
    matrix = features.featurize(EDGE_CASES, spec)
    np.testing.assert_allclose(scores.logits, matrix @ weights.astype(np.float64) + 0.25, rtol=1e-6)
    seen_dense = np.unpackbits(seen, bitorder="little").astype(bool)
    for row in range(len(EDGE_CASES)):
        buckets = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]
        assert scores.n_ngrams[row] == len(buckets)
        assert scores.n_unseen[row] == int((~seen_dense[buckets]).sum())
        assert scores.n_tokens[row] == len(text.tokenize(EDGE_CASES[row]))
