"""The hashed n-gram featuriser: the hot path of training, serving, batch scoring and explanations.

It applies exactly the rules of :mod:`sentiment_mlops.model.tokenizer` (tests hold the two to identical
buckets) in one pass over the UTF-8 bytes of each review: strip tags, lower-case, tokenise, hash
tokens, fold them into 1..n-gram hashes, keep the low ``hash_bits`` bits. Scoring sums the
weights of a review's distinct buckets without ever building a feature matrix. The kernels are the
compiled extension (or, when asked for, the reference): see :mod:`sentiment_mlops.model.kernels`.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment_mlops.model import kernels, reference
from sentiment_mlops.model import tokenizer as text

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from scipy.sparse import csr_matrix

    OneScore = Callable[[str], tuple[float, int, int, int]]

FEATURIZER_VERSION = f"{text.TOKENIZER_VERSION}/fnv1a-fold-v1"


def encode_batch(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the texts' UTF-8 bytes; return ``(buffer, offsets)`` with ``len(texts) + 1`` offsets."""
    encoded = [text.encode(t) for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return buf, offsets


@dataclass(frozen=True)
class FeaturizerSpec:
    """What a model needs to reproduce its features: stored in the model card."""

    ngram_max: int
    hash_bits: int
    binary: bool = True
    version: str = FEATURIZER_VERSION

    @property
    def n_features(self) -> int:
        return 1 << self.hash_bits

    @property
    def mask(self) -> np.uint64:
        return np.uint64(self.n_features - 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ngram_max": self.ngram_max,
            "hash_bits": self.hash_bits,
            "binary": self.binary,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeaturizerSpec:
        spec = cls(int(data["ngram_max"]), int(data["hash_bits"]), bool(data["binary"]), str(data["version"]))
        if spec.version != FEATURIZER_VERSION:
            raise ValueError(
                f"model was built with featuriser {spec.version!r}, this code has {FEATURIZER_VERSION!r}"
            )
        return spec


@dataclass(frozen=True)
class Scores:
    """Raw linear scores of a batch, with the per-review counts the service exports as metrics."""

    logits: np.ndarray
    n_tokens: np.ndarray
    n_ngrams: np.ndarray
    n_unseen: np.ndarray


LAYOUTS = ("dense", "compact")


@dataclass(frozen=True)
class ScoringTable:
    """The weights as the kernels read them, in one of two layouts (``SENTIMENT_WEIGHT_TABLE``).

    ``dense`` (default): the float32 array over all ``2**hash_bits`` buckets, one branch-free load
    per n-gram. ``compact``: the non-zero buckets only (about 4% at 2**24 with ``min_df``) in an
    open-addressing table of 8-byte slots at a load of at most one half, a quarter of the dense
    size, read with prefetching; it pays a probe branch per n-gram, so it wins only where the
    dense array misses the last-level cache. ``bench/bench_kernels.py`` measures both. Weights are
    exact in either (float32, as trained).
    """

    weights: np.ndarray  # dense float32: the dense layout, the reference kernels and explanations
    seen: np.ndarray  # uint8 bitmap, little bit order
    slots: np.ndarray | None  # compact layout's uint64 slots: bucket << 32 | float32 bits
    _single: dict[tuple[int, int, float], OneScore] = field(default_factory=dict, compare=False, repr=False)

    @property
    def layout(self) -> str:
        return "dense" if self.slots is None else "compact"

    @classmethod
    def build(cls, weights: np.ndarray, seen: np.ndarray, layout: str | None = None) -> ScoringTable:
        layout = layout or os.environ.get("SENTIMENT_WEIGHT_TABLE", "dense").strip() or "dense"
        if layout not in LAYOUTS:
            raise ValueError(f"SENTIMENT_WEIGHT_TABLE must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        weights = np.ascontiguousarray(weights, dtype=np.float32)
        seen = np.ascontiguousarray(seen, dtype=np.uint8)
        module, _ = kernels.load()
        if module is None or layout == "dense":
            return cls(weights, seen, None)
        nonzero = np.flatnonzero(weights).astype(np.uint32)
        size = 16
        while size < 2 * nonzero.size:
            size *= 2
        slots = np.empty(size, dtype=np.uint64)
        module.build_table(nonzero, weights[nonzero], slots)
        return cls(weights, seen, slots)

    def kernel_args(self) -> tuple[np.ndarray, bool, np.ndarray]:
        """``(table, dense, seen)`` as the kernels take them."""
        return (self.weights, True, self.seen) if self.slots is None else (self.slots, False, self.seen)

    def single(self, spec: FeaturizerSpec, bias: float) -> OneScore:
        """The single-review scorer: ``review -> (logit, n_tokens, n_ngrams, n_unseen)``, Python scalars.

        The compiled one holds this table (no arguments to parse, no arrays to allocate per call);
        it is built once per ``(spec, bias)`` and kept.
        """
        key = (spec.ngram_max, spec.hash_bits, float(bias))
        if key not in self._single:
            module, _ = kernels.load()
            if module is None:
                self._single[key] = lambda review: _reference_one(review, spec, self, float(bias))
            else:  # reads prefetched: measured faster for both layouts (bench/bench_kernels.py)
                scorer = module.Scorer(spec.ngram_max, int(spec.mask), *self.kernel_args(), float(bias), True)
                self._single[key] = scorer.score_one
        return self._single[key]


def featurize(texts: Sequence[str], spec: FeaturizerSpec) -> csr_matrix:
    """The ``len(texts) x 2**hash_bits`` sparse matrix of (binary or counted) hashed n-grams."""
    from scipy.sparse import csr_matrix

    module, _ = kernels.load()
    if module is None:
        counts, indices, indptr = reference.featurize(texts, spec.ngram_max, spec.hash_bits, spec.binary)
    else:
        buf, offsets = encode_batch(texts)
        indptr, indices, counts = module.featurize(buf, offsets, spec.ngram_max, int(spec.mask), spec.binary)
    return csr_matrix(
        (
            np.frombuffer(counts, np.float32),
            np.frombuffer(indices, np.int32),
            np.frombuffer(indptr, np.int64),
        ),
        shape=(len(texts), spec.n_features),
    )


def score(
    texts: Sequence[str],
    spec: FeaturizerSpec,
    weights: np.ndarray,
    bias: float,
    seen: np.ndarray,
    table: ScoringTable | None = None,
    threads: int | None = None,
) -> Scores:
    """Linear scores ``bias + sum(weights[distinct buckets])`` of a batch, without a feature matrix.

    Pass the model's ``table`` (built once by :meth:`ScoringTable.build`); without it one is built
    for this call. ``threads`` overrides ``SENTIMENT_KERNEL_THREADS`` for this batch.
    """
    table = table or ScoringTable.build(weights, seen)
    module, info = kernels.load()
    if module is None:
        return _reference_score(texts, spec, table, bias)
    texts = texts if isinstance(texts, list) else list(texts)
    out = _outputs(len(texts))
    module.score_texts(texts, spec.ngram_max, int(spec.mask), *table.kernel_args(), float(bias), *_raw(out),
                       info.threads if threads is None else threads, True)  # fmt: skip
    return out


def score_buffer(
    buf: np.ndarray, offsets: np.ndarray, spec: FeaturizerSpec, table: ScoringTable, bias: float
) -> Scores:
    """:func:`score` over UTF-8 documents ``buf[offsets[i]:offsets[i + 1]]`` (Arrow's string layout)."""
    module, info = kernels.load()
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    buf = np.ascontiguousarray(buf, dtype=np.uint8)
    if module is None:
        docs = [bytes(buf[a:b]).decode("utf-8", "surrogatepass") for a, b in itertools.pairwise(offsets)]
        return _reference_score(docs, spec, table, bias)
    out = _outputs(len(offsets) - 1)
    module.score_buffer(buf, offsets, spec.ngram_max, int(spec.mask), *table.kernel_args(), float(bias),
                        *_raw(out), info.threads, True)  # fmt: skip
    return out


def token_count(review: str) -> int:
    """Number of tokens in one review."""
    module, _ = kernels.load()
    if module is None:
        return len(text.tokenize(review))
    raw = text.encode(review)
    return int(module.token_hashes(raw, np.empty(len(raw) + 1, np.uint64), None))


def explain(review: str, spec: FeaturizerSpec, weights: np.ndarray, top_k: int) -> list[dict[str, Any]]:
    """The ``top_k`` distinct n-grams of ``review`` with the largest ``|weight|``, first-seen order on ties.

    The kernels find the distinct buckets and where each first occurs; only the ``top_k`` winners
    are turned back into words (lower-cased, as the tokenizer sees them).
    """
    module, _ = kernels.load()
    if module is None:
        return _reference_explain(review, spec, weights, top_k)
    raw = text.encode(review)
    cap = (len(raw) + 1) * spec.ngram_max
    keys, firsts = np.empty(cap, np.uint32), np.empty(cap, np.int64)
    spans = np.empty((len(raw) + 1, 2), np.int64)
    _, n = module.explain(raw, spec.ngram_max, int(spec.mask), keys, firsts, spans)
    values = weights[keys[:n]]
    order = np.argsort(-np.abs(values), kind="stable")[:top_k]
    out = []
    for i in order:
        if values[i] != 0.0:
            start, length = divmod(int(firsts[i]), 8)
            words = [_token_text(raw, spans[t]) for t in range(start, start + length)]
            out.append(
                {"ngram": b" ".join(words).decode("utf-8", "replace"), "weight": round(float(values[i]), 6)}
            )
    return out


def _token_text(raw: bytes, span: np.ndarray) -> bytes:
    token = raw[span[0] : span[1]].lower()
    return text.ELLIPSIS if token.startswith(b"..") else token


def _outputs(n: int) -> Scores:
    return Scores(
        np.empty(n, np.float64), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    )


def _raw(s: Scores) -> tuple[np.ndarray, ...]:
    return s.logits, s.n_tokens, s.n_ngrams, s.n_unseen


def _reference_score(texts: Sequence[str], spec: FeaturizerSpec, table: ScoringTable, bias: float) -> Scores:
    return Scores(*reference.score(texts, spec.ngram_max, spec.hash_bits, table.weights, table.seen, bias))


def _reference_one(
    review: str, spec: FeaturizerSpec, table: ScoringTable, bias: float
) -> tuple[float, int, int, int]:
    z, t, g, u = reference.score([review], spec.ngram_max, spec.hash_bits, table.weights, table.seen, bias)
    return float(z[0]), int(t[0]), int(g[0]), int(u[0])


def _reference_explain(
    review: str, spec: FeaturizerSpec, weights: np.ndarray, top_k: int
) -> list[dict[str, Any]]:
    return reference.explain(review, spec.ngram_max, spec.hash_bits, weights, top_k)
