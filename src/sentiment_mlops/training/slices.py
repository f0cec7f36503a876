"""Length slices: each review cut to what a short input looks like, and metrics per slice.

People type short reviews ("Not good.", "Meh."); IMDB reviews are long. A model judged on whole
reviews alone can lean one way on short inputs unseen. The same cuts serve three uses: ``evaluate``
reports them on the test split, training selects and calibrates on them built from validation, and
training reviews cut the same way (with a random length) augment the training data.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

_TAG = re.compile(r"<[^>]*>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# Whole reviews bucketed by token count: (name, lowest, highest exclusive).
TOKEN_BUCKETS = (
    ("tokens_0_100", 0, 100),
    ("tokens_100_200", 100, 200),
    ("tokens_200_400", 200, 400),
    ("tokens_400_plus", 400, 1 << 31),
)


def words(text: str) -> list[str]:
    """The review's whitespace-separated words, HTML tags (IMDB's ``<br />``) taken out first."""
    return _TAG.sub(" ", text).split()


def last_words(text: str, n: int) -> str:
    """The last ``n`` words: where a reviewer's verdict usually stands."""
    return " ".join(words(text)[-n:])


def sentences(text: str) -> list[str]:
    """The review split after ``.``, ``!`` or ``?`` followed by white space (never empty)."""
    parts = [s for s in _SENTENCE_END.split(" ".join(words(text))) if s]
    return parts or [""]


def first_sentence(text: str) -> str:
    return sentences(text)[0]


def last_sentence(text: str) -> str:
    return sentences(text)[-1]


CUTS: dict[str, Callable[[str], str]] = {
    "last_10_words": lambda t: last_words(t, 10),
    "last_20_words": lambda t: last_words(t, 20),
    "last_40_words": lambda t: last_words(t, 40),
    "first_sentence": first_sentence,
    "last_sentence": last_sentence,
}


def cut(texts: list[str], name: str) -> list[str]:
    """Every review cut by the named slice."""
    return [CUTS[name](t) for t in texts]


def augment(
    texts: list[str], labels: np.ndarray, seed: int, max_words: int = 50
) -> tuple[list[str], np.ndarray]:
    """Short snippets of training reviews with their review's label: the last k words (k drawn
    from 3..``max_words`` per review), the first and the last sentence. Random lengths rather than
    the evaluated 10/20/40, so the model learns short inputs, not the slices."""
    rng = np.random.default_rng(seed)
    ks = rng.integers(3, max_words + 1, size=len(texts))
    out: list[str] = []
    for text, k in zip(texts, ks, strict=True):
        split = sentences(text)
        out += [last_words(text, int(k)), split[0], split[-1]]
    return out, np.repeat(np.asarray(labels), 3)


def reliability(y: np.ndarray, proba: np.ndarray, bins: int) -> list[tuple[float, float, int]]:
    """Per non-empty equal-width bin of P(positive): mean confidence, share positive, reviews."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(proba, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            rows.append((float(proba[in_bin].mean()), float(y[in_bin].mean()), int(in_bin.sum())))
    return rows


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int) -> float:
    """Mean |accuracy - confidence| over equal-width bins of P(positive), weighted by bin size."""
    return float(sum(n * abs(acc - conf) for conf, acc, n in reliability(y, proba, bins)) / len(y))


def metrics(y: np.ndarray, proba: np.ndarray, bins: int) -> dict[str, float]:
    """Accuracy, share predicted positive, ECE and log loss of one slice."""
    p = np.clip(proba, 1e-12, 1 - 1e-12)
    return {
        "accuracy": float(np.mean((proba >= 0.5) == (y == 1))),
        "positive_share": float(np.mean(proba >= 0.5)),
        "ece": expected_calibration_error(y, proba, bins),
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "reviews": float(len(y)),
    }
