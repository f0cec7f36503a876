"""The hashed n-gram featuriser: the hot path of training and serving.

It applies exactly the rules of :mod:`sentiment_mlops.model.tokenizer` (tests hold the two to identical
buckets) in one pass over the UTF-8 bytes of a batch: strip tags, lower-case, tokenise, hash
tokens, fold them into 1..n-gram hashes, keep the low ``hash_bits`` bits. Scoring sums the
weights of a review's distinct buckets without ever building a feature matrix.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment_mlops.model import tokenizer as text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scipy.sparse import csr_matrix

FEATURIZER_VERSION = f"{text.TOKENIZER_VERSION}/fnv1a-fold-v1"


def encode_batch(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the texts' UTF-8 bytes; return ``(buffer, offsets)`` with ``len(texts) + 1`` offsets."""
    encoded = [text.encode(t) for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return buf, offsets


@functools.cache
def _scoring_kernels() -> Any:
    """The ahead-of-time compiled kernels if built for this source (the container), else numba's JIT.

    ``SENTIMENT_KERNELS`` = ``auto`` (default), ``aot`` (fail without the extension) or ``jit``.
    """
    import importlib

    from sentiment_mlops.model import kernels_aot

    choice = os.environ.get("SENTIMENT_KERNELS", "auto")
    if choice in ("auto", "aot"):
        name = kernels_aot.module_name()
        try:
            return importlib.import_module(f"sentiment_mlops.model.{name}")
        except ImportError as exc:
            if choice == "aot":
                raise ImportError(
                    f"SENTIMENT_KERNELS=aot but sentiment_mlops.model.{name} is not built: "
                    "run `python -m sentiment_mlops.model.kernels_aot src/sentiment_mlops/model`"
                ) from exc
    from sentiment_mlops.model import kernels

    return kernels


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


def featurize(texts: Sequence[str], spec: FeaturizerSpec) -> csr_matrix:
    """The ``len(texts) x 2**hash_bits`` sparse matrix of (binary or counted) hashed n-grams."""
    from scipy.sparse import csr_matrix

    from sentiment_mlops.model import kernels

    buf, offsets = encode_batch(texts)
    indptr, indices, counts = kernels.featurize_batch(buf, offsets, spec.ngram_max, spec.mask, spec.binary)
    return csr_matrix((counts, indices, indptr), shape=(len(texts), spec.n_features))


def score(
    texts: Sequence[str], spec: FeaturizerSpec, weights: np.ndarray, bias: float, seen: np.ndarray
) -> Scores:
    """Linear scores ``bias + sum(weights[distinct buckets])`` of a batch, without a feature matrix."""
    buf, offsets = encode_batch(texts)
    logits, n_tokens, n_ngrams, n_unseen = _scoring_kernels().score(
        buf, offsets, spec.ngram_max, spec.mask, weights, float(bias), seen
    )
    return Scores(logits, n_tokens, n_ngrams, n_unseen)


def token_count(review: str) -> int:
    """Number of tokens in one review, by the compiled tokenizer."""
    buf, offsets = encode_batch([review])
    return int(_scoring_kernels().token_hashes(buf, offsets[0], offsets[1]).shape[0])
