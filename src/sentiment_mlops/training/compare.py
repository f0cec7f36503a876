"""``sentiment compare``: champion against challenger, on the IMDB test set and on production data.

Both models score the same reviews: the IMDB test split and the newest labelled production window
(held out by ``sentiment feedback export``, never trained on). For each set the report gives both
accuracies, their difference and McNemar's exact test on the paired outcomes: only the reviews one
model gets right and the other wrong carry evidence, so it is far more sensitive than comparing
two accuracies as if they came from different samples. ``sentiment promote`` reads the report when
``registry.max_production_regression`` is set.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sentiment_mlops.config import Paths
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.registry.gate import PRODUCTION, REPORT

log = logging.getLogger(__name__)

IMDB_TEST = "imdb_test"


class CompareError(ValueError):
    """A set to compare on is missing or empty, or the report does not fit the models to promote."""


def mcnemar(champion_right: np.ndarray, challenger_right: np.ndarray) -> dict[str, Any]:
    """McNemar's exact (binomial) test of two classifiers' paired correctness, two-sided."""
    from scipy.stats import binomtest

    only_champion = int(np.sum(champion_right & ~challenger_right))
    only_challenger = int(np.sum(~champion_right & challenger_right))
    discordant = only_champion + only_challenger
    p = 1.0 if discordant == 0 else float(binomtest(only_challenger, discordant, 0.5).pvalue)
    return {"only_champion_right": only_champion, "only_challenger_right": only_challenger, "p_value": p}


def score_set(
    champion: SentimentModel, challenger: SentimentModel, texts: list[str], y: np.ndarray
) -> dict[str, Any]:
    """Accuracy of each model on one set, the difference (challenger minus champion), McNemar."""
    if not texts:
        raise CompareError("cannot compare on an empty set")
    a = (champion.predict_proba(texts) >= 0.5) == (y == 1)
    b = (challenger.predict_proba(texts) >= 0.5) == (y == 1)
    acc_a, acc_b = float(a.mean()), float(b.mean())
    return {
        "reviews": len(texts),
        "champion_accuracy": round(acc_a, 6),
        "challenger_accuracy": round(acc_b, 6),
        "difference": round(acc_b - acc_a, 6),
        "mcnemar": mcnemar(a, b),
    }


def compare(
    champion: SentimentModel, challenger: SentimentModel, sets: dict[str, pd.DataFrame]
) -> dict[str, Any]:
    """The report over every named set (frames with ``text`` and ``label`` 0/1)."""
    report: dict[str, Any] = {
        "champion": {"version": champion.version, "content_hash": champion.card.get("version")},
        "challenger": {"version": challenger.version, "content_hash": challenger.card.get("version")},
        "sets": {},
    }
    for name, df in sets.items():
        result = score_set(champion, challenger, df["text"].astype(str).tolist(), df["label"].to_numpy())
        report["sets"][name] = result
        log.info(
            "%s: champion %.4f, challenger %.4f (%+.4f), McNemar p=%.3g",
            name,
            result["champion_accuracy"],
            result["challenger_accuracy"],
            result["difference"],
            result["mcnemar"]["p_value"],
        )
    return report


def run(
    paths: Paths, champion: SentimentModel, challenger: SentimentModel, window: Path | None
) -> dict[str, Any]:
    """Compare on IMDB test and the production window; write ``reports/compare.json``."""
    from sentiment_mlops.data import labelled
    from sentiment_mlops.data.splits import read_split

    sets = {IMDB_TEST: read_split(paths, "test")}
    window = window or paths.production_window
    if not window.is_file():
        raise CompareError(f"production window not found at {window}: run `sentiment feedback export`")
    sets[PRODUCTION] = labelled.read_labelled(window)
    report = compare(champion, challenger, sets)
    atomic_write_json(paths.reports / REPORT, report)
    return report
