"""The sentiment model: NB-weighted hashed n-grams with a linear classifier (NBSVM family).

A model is data only: ``weights.npz`` (the non-zero effective weights ``r * w``, the bias and a
bitmap of buckets seen in training) and ``card.json`` (featuriser spec, parameters, data checksum,
metrics, drift baseline, and the length-aware calibration's four numbers). Loading never unpickles,
so it never runs code.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from sentiment_mlops.files import atomic_write_text, replace_dir
from sentiment_mlops.model import features
from sentiment_mlops.model.calibration import LengthCalibration, probabilities, sigmoid, sigmoid_one
from sentiment_mlops.model.features import FeaturizerSpec, Scores, ScoringTable

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.npz"
CARD_FILE = "card.json"
LABELS = ("negative", "positive")
__all__ = [
    "LABELS",
    "ModelError",
    "Prediction",
    "ScoredLists",
    "SentimentModel",
    "seen_bitmap",
    "sigmoid",
    "sigmoid_one",
]


class ModelError(RuntimeError):
    """A model directory is missing, incomplete or incompatible with this code."""


@dataclass
class Prediction:
    """One scored review."""

    label: str
    probability: float  # probability of "positive"
    n_tokens: int
    n_ngrams: int
    n_unseen: int


class ScoredLists(NamedTuple):
    """P(positive) and counts of each review of a batch, as Python lists (what the service records)."""

    probabilities: list[float]
    n_tokens: list[int]
    n_ngrams: list[int]
    n_unseen: list[int]

    @property
    def unseen_shares(self) -> list[float]:
        """Per review, the share of its distinct n-grams never seen in training (0 without n-grams)."""
        return [u / g if g else 0.0 for u, g in zip(self.n_unseen, self.n_ngrams, strict=True)]


@dataclass
class SentimentModel:
    """Dense effective weights over ``2**hash_bits`` buckets, a bias, and the seen-bucket bitmap."""

    spec: FeaturizerSpec
    weights: np.ndarray  # float32, shape (2**hash_bits,)
    bias: float
    seen: np.ndarray  # uint8 bitmap, little bit order, shape (2**hash_bits / 8,)
    card: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.weights.shape != (self.spec.n_features,):
            raise ModelError(f"weights have shape {self.weights.shape}, expected ({self.spec.n_features},)")
        if self.seen.shape != (self.spec.n_features // 8,):
            raise ModelError("seen-bucket bitmap does not match hash_bits")

    # --- scoring ------------------------------------------------------------------------

    @property
    def version(self) -> str:
        """The version in the team's registry when exported from it, else the weights' content hash."""
        registry = self.card.get("registry") or {}
        return str(registry.get("version") or self.content_hash)

    @property
    def name(self) -> str:
        """The registered model's name, else the card's."""
        registry = self.card.get("registry") or {}
        return str(registry.get("name") or self.card.get("name") or "sentiment")

    @property
    def content_hash(self) -> str:
        """sha256 of the weights (12 hex digits), set at training: the same bytes, the same hash."""
        return str(self.card.get("version", "unversioned"))

    @functools.cached_property
    def calibration(self) -> LengthCalibration | None:
        """The card's length-aware calibration (``None``: the weights' logit is calibrated)."""
        try:
            return LengthCalibration.from_card(self.card)
        except ValueError as exc:
            raise ModelError(str(exc)) from exc

    @functools.cached_property
    def table(self) -> ScoringTable:
        """The weights as the kernels read them, built at the first score (weights never change after)."""
        return ScoringTable.build(self.weights, self.seen)

    def score(self, texts: Sequence[str], threads: int | None = None) -> Scores:
        """Logits and per-review counts (tokens, distinct n-grams, unseen n-grams) of a batch;
        ``threads`` overrides ``SENTIMENT_KERNEL_THREADS`` for it."""
        return features.score(texts, self.spec, self.weights, self.bias, self.seen, self.table, threads)

    @functools.cached_property
    def score_one(self) -> features.OneScore:
        """``score_one(review) -> (logit, n_tokens, n_ngrams, n_unseen)``, Python scalars: one review
        in one call into the kernels, no arrays (what a single-review request pays)."""
        return self.table.single(self.spec, self.bias)

    def probabilities(self, scores: Scores) -> np.ndarray:
        """P(positive) of a scored batch: the step after the kernels (the card's length-aware
        calibration of logits and n-gram counts), for every batch path."""
        return probabilities(scores.logits, scores.n_ngrams, self.calibration)

    def probability(self, logit: float, n_ngrams: int) -> float:
        """P(positive) of one scored review: :meth:`probabilities` in scalar math, for one review."""
        cal = self.calibration
        return sigmoid_one(logit) if cal is None else cal.probability(logit, n_ngrams)

    def score_lists(self, texts: Sequence[str]) -> ScoredLists:
        """P(positive) and counts of each review as lists: a single review in one kernel call that
        returns Python scalars (no arrays), a batch in one batch call (every serving path)."""
        if isinstance(texts, list) and len(texts) == 1:
            logit, n_tokens, n_ngrams, n_unseen = self.score_one(texts[0])
            return ScoredLists([self.probability(logit, n_ngrams)], [n_tokens], [n_ngrams], [n_unseen])
        s = self.score(texts)
        return ScoredLists(
            self.probabilities(s).tolist(), s.n_tokens.tolist(), s.n_ngrams.tolist(), s.n_unseen.tolist()
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of ``positive`` for each review."""
        if isinstance(texts, list) and len(texts) == 1:
            logit, _, n_ngrams, _ = self.score_one(texts[0])
            return np.array([self.probability(logit, n_ngrams)])
        return self.probabilities(self.score(texts))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Label, probability and counts for each review."""
        if isinstance(texts, list) and len(texts) == 1:
            return [self.predict_one(texts[0])]
        s = self.score(texts)
        proba = self.probabilities(s).tolist()
        return [
            Prediction(LABELS[p >= 0.5], p, t, g, u)
            for p, t, g, u in zip(
                proba, s.n_tokens.tolist(), s.n_ngrams.tolist(), s.n_unseen.tolist(), strict=True
            )
        ]

    def predict_one(self, review: str) -> Prediction:
        """Label, probability and counts of one review, in scalar math after one kernel call."""
        logit, n_tokens, n_ngrams, n_unseen = self.score_one(review)
        p = self.probability(logit, n_ngrams)
        return Prediction(LABELS[p >= 0.5], p, n_tokens, n_ngrams, n_unseen)

    def explain(self, review: str, top_k: int = 10) -> list[dict[str, Any]]:
        """The ``top_k`` distinct n-grams of ``review`` that pushed the decision most, with their weights.

        Same kernels and buckets as scoring; each weight comes with its words. Positive weights push
        towards ``positive``.
        """
        return features.explain(review, self.spec, self.weights, top_k)

    # --- persistence --------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write weights and card to ``directory`` atomically (a reader never sees half a model)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            nz = np.flatnonzero(self.weights).astype(np.uint32)
            np.savez_compressed(
                staging / WEIGHTS_FILE,
                indices=nz,
                values=self.weights[nz].astype(np.float32),
                bias=np.float64(self.bias),
                seen=self.seen,
            )
            self.write_card(staging)
            replace_dir(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return directory

    def write_card(self, directory: Path) -> None:
        """(Re)write only ``card.json`` in ``directory``, atomically."""
        card = dict(self.card)
        card["featurizer"] = self.spec.to_dict()
        atomic_write_text(Path(directory) / CARD_FILE, json.dumps(card, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: Path | str) -> SentimentModel:
        """Load a model saved by :meth:`save`; raise :class:`ModelError` naming what is wrong."""
        directory = Path(directory)
        card_path, weights_path = directory / CARD_FILE, directory / WEIGHTS_FILE
        for path in (card_path, weights_path):
            if not path.is_file():
                raise ModelError(f"not a model directory: {path} is missing")
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
            spec = FeaturizerSpec.from_dict(card["featurizer"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"invalid model card {card_path}: {exc}") from exc
        try:
            with np.load(weights_path, allow_pickle=False) as npz:
                indices, values = npz["indices"], npz["values"]
                bias, seen = float(npz["bias"]), npz["seen"].astype(np.uint8)
        # A truncated or damaged zip raises BadZipFile, zlib.error or EOFError, not OSError.
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise ModelError(f"invalid weights file {weights_path}: {exc}") from exc
        if indices.size and int(indices.max()) >= spec.n_features:
            raise ModelError(f"{weights_path}: a weight index is outside 2**{spec.hash_bits}")
        weights = np.zeros(spec.n_features, dtype=np.float32)
        weights[indices] = values
        model = cls(spec, weights, bias, seen, card)
        _ = model.calibration  # a damaged calibration is refused at load, not at the first score
        return model


def seen_bitmap(buckets: np.ndarray, n_features: int) -> np.ndarray:
    """Pack the set of bucket indices into the little-endian bitmap :func:`features.score` reads."""
    present = np.zeros(n_features, dtype=bool)
    present[buckets] = True
    return np.packbits(present, bitorder="little")
