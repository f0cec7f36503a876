"""The compiled kernels of the featuriser (numba): tokenise, hash, dedup, score.

They apply exactly the rules of :mod:`sentiment_mlops.model.tokenizer`; tests hold the two to identical
buckets. :mod:`sentiment_mlops.model.features` is the API; this module is imported only when scoring is
JIT-compiled. The container image ships the same functions compiled ahead of time instead
(:mod:`sentiment_mlops.model.kernels_aot`), so it needs neither numba nor LLVM at run time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sentiment_mlops.model import tokenizer as text

_FNV_OFFSET = np.uint64(text.FNV_OFFSET)
_FNV_PRIME = np.uint64(text.FNV_PRIME)
_ORDER_SEED = np.uint64(text.ORDER_SEED)
_FOLD_PRIME = np.uint64(text.FOLD_PRIME)
_AVALANCHE_PRIME = np.uint64(text.AVALANCHE_PRIME)
_MAX_TAG = text.MAX_TAG_BYTES
_ELLIPSIS_HASH = np.uint64(text.token_hash(text.ELLIPSIS))
# Lookup table: which single bytes are punctuation tokens (numba has no set literals).
_PUNCT_TOKEN = np.zeros(256, dtype=np.bool_)
_PUNCT_TOKEN[list(text.PUNCTUATION_TOKENS)] = True


@njit(cache=True, nogil=True, inline="always")
def _is_word(c: int) -> bool:
    return (97 <= c <= 122) or (48 <= c <= 57) or c >= 128


@njit(cache=True, nogil=True)
def token_hashes(buf: np.ndarray, start: int, end: int) -> np.ndarray:
    """Hash every token of ``buf[start:end]`` (rules 1-3 of text.py), in order."""
    out = np.empty(end - start + 1, dtype=np.uint64)
    n = 0
    i = start
    in_word = False
    h = _FNV_OFFSET
    while i < end:
        c = buf[i]
        if c == 60:  # '<': a short tag is a separator, else '<' itself is one
            j = i + 1
            limit = min(end, i + 2 + _MAX_TAG)
            closed = -1
            while j < limit:
                cj = buf[j]
                if cj == 62:
                    closed = j
                    break
                if cj == 60:
                    break
                j += 1
            if in_word:
                out[n] = h
                n += 1
                in_word = False
            if closed >= 0:
                i = closed + 1
            else:
                i += 1
            continue
        if 65 <= c <= 90:
            c += 32
        if _is_word(c):
            if not in_word:
                in_word = True
                h = _FNV_OFFSET
            h = (h ^ np.uint64(c)) * _FNV_PRIME
        elif c == 39 and in_word and i + 1 < end:
            # An apostrophe stays inside a word only between two word characters.
            nxt = buf[i + 1]
            if 65 <= nxt <= 90:
                nxt += 32
            if _is_word(nxt):
                h = (h ^ np.uint64(39)) * _FNV_PRIME
            else:
                out[n] = h
                n += 1
                in_word = False
        else:
            if in_word:
                out[n] = h
                n += 1
                in_word = False
            if c == 46:  # '.': alone a token; a run of two or more is the token "..."
                run = 1
                while i + run < end and buf[i + run] == 46:
                    run += 1
                if run >= 2:
                    out[n] = _ELLIPSIS_HASH
                    i += run
                    n += 1
                    continue
                out[n] = (_FNV_OFFSET ^ np.uint64(c)) * _FNV_PRIME
                n += 1
            elif _PUNCT_TOKEN[c]:
                out[n] = (_FNV_OFFSET ^ np.uint64(c)) * _FNV_PRIME
                n += 1
        i += 1
    if in_word:
        out[n] = h
        n += 1
    return out[:n]


@njit(cache=True, nogil=True)
def _ngram_buckets(tokens: np.ndarray, ngram_max: int, mask: np.uint64) -> np.ndarray:
    """Buckets of every 1..ngram_max-gram, in document order (same order as text.iter_ngrams)."""
    n = tokens.shape[0]
    out = np.empty(n * ngram_max, dtype=np.int64)
    m = 0
    for i in range(n):
        for k in range(1, ngram_max + 1):
            if i + k > n:
                break
            h = np.uint64(k) * _ORDER_SEED
            for j in range(i, i + k):
                h = (h ^ tokens[j]) * _FOLD_PRIME
            h ^= h >> np.uint64(33)
            h *= _AVALANCHE_PRIME
            h ^= h >> np.uint64(33)
            out[m] = np.int64(h & mask)
            m += 1
    return out[:m]


@njit(cache=True, nogil=True)
def _distinct(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct buckets (first-seen order) and how often each occurs: an open-addressing set.

    Buckets are already hash bits, so their low bits index the table directly; this is several
    times faster than sorting on the few hundred n-grams of a review.
    """
    n = buckets.shape[0]
    size = 16
    while size < 2 * n:
        size *= 2
    slot_mask = size - 1
    table = np.full(size, -1, dtype=np.int64)
    where = np.empty(size, dtype=np.int64)
    keys = np.empty(n, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    m = 0
    for b in buckets:
        s = b & slot_mask
        while True:
            t = table[s]
            if t == -1:
                table[s] = b
                where[s] = m
                keys[m] = b
                counts[m] = 1
                m += 1
                break
            if t == b:
                counts[where[s]] += 1
                break
            s = (s + 1) & slot_mask
    return keys[:m], counts[:m]


@njit(cache=True, nogil=True)
def featurize_batch(
    buf: np.ndarray, offsets: np.ndarray, ngram_max: int, mask: np.uint64, binary: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts (indptr, indices, counts) of the hashed n-gram matrix of a batch."""
    n_docs = offsets.shape[0] - 1
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    capacity = max(1024, (offsets[-1] - offsets[0]) // 2)
    indices = np.empty(capacity, dtype=np.int32)
    counts = np.empty(capacity, dtype=np.float32)
    nnz = 0
    for d in range(n_docs):
        buckets = _ngram_buckets(token_hashes(buf, offsets[d], offsets[d + 1]), ngram_max, mask)
        keys, occurrences = _distinct(buckets)
        need = nnz + keys.shape[0]
        if need > capacity:
            capacity = max(need, capacity * 2)
            grown_i = np.empty(capacity, dtype=np.int32)
            grown_c = np.empty(capacity, dtype=np.float32)
            grown_i[:nnz] = indices[:nnz]
            grown_c[:nnz] = counts[:nnz]
            indices, counts = grown_i, grown_c
        for k in range(keys.shape[0]):
            indices[nnz] = keys[k]
            counts[nnz] = 1.0 if binary else np.float32(occurrences[k])
            nnz += 1
        indptr[d + 1] = nnz
    return indptr, indices[:nnz].copy(), counts[:nnz].copy()


@njit(cache=True, nogil=True)
def score(
    buf: np.ndarray,
    offsets: np.ndarray,
    ngram_max: int,
    mask: np.uint64,
    weights: np.ndarray,
    bias: float,
    seen: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per review: linear score over distinct buckets, token count, distinct n-grams, unseen ones."""
    n_docs = offsets.shape[0] - 1
    scores = np.empty(n_docs, dtype=np.float64)
    n_tokens = np.empty(n_docs, dtype=np.int64)
    n_ngrams = np.empty(n_docs, dtype=np.int64)
    n_unseen = np.empty(n_docs, dtype=np.int64)
    for d in range(n_docs):
        tokens = token_hashes(buf, offsets[d], offsets[d + 1])
        buckets = _distinct(_ngram_buckets(tokens, ngram_max, mask))[0]
        total = bias
        unseen = 0
        for b in buckets:
            total += weights[b]
            if not (seen[b >> 3] >> (b & 7)) & 1:
                unseen += 1
        scores[d] = total
        n_tokens[d] = tokens.shape[0]
        n_ngrams[d] = buckets.shape[0]
        n_unseen[d] = unseen
    return scores, n_tokens, n_ngrams, n_unseen
