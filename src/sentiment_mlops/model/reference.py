"""The pure-Python reference of the scoring kernels: slow, the tests' oracle, and what runs only when
``SENTIMENT_KERNELS=python`` asks for it (see :mod:`sentiment_mlops.model.kernels`).

Same rules as the compiled extension, written plainly over :mod:`sentiment_mlops.model.tokenizer`.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment_mlops.model import tokenizer as text

if TYPE_CHECKING:
    from collections.abc import Sequence


def score(
    texts: Sequence[str], ngram_max: int, hash_bits: int, weights: np.ndarray, seen: np.ndarray, bias: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(logits, n_tokens, n_ngrams, n_unseen)`` of each review: the sum over its distinct buckets."""
    logits = np.empty(len(texts), np.float64)
    n_tokens, n_ngrams, n_unseen = (np.empty(len(texts), np.int64) for _ in range(3))
    for d, review in enumerate(texts):
        buckets = list(dict.fromkeys(text.ngram_buckets(review, ngram_max, hash_bits)))
        logits[d] = bias + sum(float(weights[b]) for b in buckets)
        n_tokens[d] = len(text.tokenize(review))
        n_ngrams[d] = len(buckets)
        n_unseen[d] = sum(not (int(seen[b >> 3]) >> (b & 7)) & 1 for b in buckets)
    return logits, n_tokens, n_ngrams, n_unseen


def featurize(
    texts: Sequence[str], ngram_max: int, hash_bits: int, binary: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts ``(counts, indices, indptr)`` of the hashed n-gram matrix, first-seen order per row:
    float32, int32 and int64, as the compiled ``featurize`` returns them."""
    indptr, indices, counts = [0], list[int](), list[float]()
    for review in texts:
        occurrences = Counter(text.ngram_buckets(review, ngram_max, hash_bits))
        indices.extend(occurrences)
        counts.extend(1.0 if binary else float(c) for c in occurrences.values())
        indptr.append(len(indices))
    return np.array(counts, np.float32), np.array(indices, np.int32), np.array(indptr, np.int64)


def explain(
    review: str, ngram_max: int, hash_bits: int, weights: np.ndarray, top_k: int
) -> list[dict[str, Any]]:
    """The ``top_k`` distinct n-grams with the largest ``|weight|``, first-seen order on ties."""
    mask = (1 << hash_bits) - 1
    contributions: dict[int, tuple[str, float]] = {}
    for words, h in text.iter_ngrams(text.tokenize(review), ngram_max):
        if h & mask not in contributions:
            contributions[h & mask] = (words, float(weights[h & mask]))
    ranked = sorted(contributions.values(), key=lambda item: abs(item[1]), reverse=True)
    return [{"ngram": w, "weight": round(v, 6)} for w, v in ranked[:top_k] if v != 0.0]
