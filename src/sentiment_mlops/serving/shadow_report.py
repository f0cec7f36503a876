"""``sentiment shadow report``: how the shadow would have answered the traffic the champion served.

Reads the prediction log the service wrote (``role=champion`` and ``role=shadow`` rows under the
same prediction id) and its feedback labels. Every review both models scored is a pair: their
agreement and each model's positive share are taken over all pairs; accuracy over the pairs that
got a label (the latest label of an id wins, as in ``sentiment feedback export``), with McNemar's
exact test on the paired correctness. The gate (``--min-agreement``, ``--max-accuracy-drop``,
``--min-labelled``) is what the promotion path checks before a shadow goes on to the canary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.feedback import ExportStats, latest_labels, read_log
from sentiment_mlops.data.log_format import CHAMPION, FEEDBACK, PREDICTIONS, SHADOW
from sentiment_mlops.training.compare import mcnemar

ROLES = ("champion", "shadow")


def _role_rows(predictions: pd.DataFrame, shadow: bool) -> pd.DataFrame:
    if "role" not in predictions:  # a log written before roles: no shadow rows
        is_shadow = pd.Series(False, index=predictions.index)
    else:
        is_shadow = predictions["role"].fillna(CHAMPION) == SHADOW
    rows = predictions[is_shadow if shadow else ~is_shadow]
    return rows[["id", "model_version", "probability", "label"]].drop_duplicates("id", keep="first")


def pairs_of(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per id both models scored: ``<column>_champion`` and ``<column>_shadow``."""
    return _role_rows(predictions, shadow=False).merge(
        _role_rows(predictions, shadow=True), on="id", suffixes=("_champion", "_shadow")
    )


def _versions(column: pd.Series) -> list[str]:
    return sorted({str(v) for v in column.dropna()})


def summarise(
    predictions: pd.DataFrame, feedback: pd.DataFrame, shadow_version: str | None = None
) -> dict[str, Any]:
    """Agreement and positive share over all pairs; accuracy per model over the labelled pairs.
    ``shadow_version``: only the pairs that shadow version scored (one challenger's report)."""
    pairs = pairs_of(predictions)
    if shadow_version is not None:
        pairs = pairs[pairs["model_version_shadow"].astype(str) == shadow_version]
    if pairs.empty:
        which = f" with shadow version {shadow_version}" if shadow_version is not None else ""
        raise DataError(f"the prediction log holds no review scored by both a champion and a shadow{which}")
    agree = pairs["label_champion"] == pairs["label_shadow"]
    report: dict[str, Any] = {
        "pairs": len(pairs),
        "agreement": round(float(agree.mean()), 6),
        "disagreements": int((~agree).sum()),
        "models": {},
    }
    labels = latest_labels(feedback, ExportStats()) if not feedback.empty else None
    labelled = pairs.merge(labels[["id", "label"]], on="id") if labels is not None else pairs.iloc[:0]
    y = labelled["label"].to_numpy(dtype=np.int8) if len(labelled) else np.zeros(0, np.int8)
    right = {}
    for role in ROLES:
        predicted = pairs[f"label_{role}"] == "positive"
        entry: dict[str, Any] = {
            "model_versions": _versions(pairs[f"model_version_{role}"]),
            "positive_share": round(float(predicted.mean()), 6),
            "mean_probability": round(float(pairs[f"probability_{role}"].mean()), 6),
        }
        if len(labelled):
            right[role] = (labelled[f"label_{role}"] == "positive").to_numpy() == (y == 1)
            entry["accuracy"] = round(float(right[role].mean()), 6)
        report["models"][role] = entry
    report["labelled"] = len(labelled)
    if len(labelled):
        report["accuracy_difference"] = round(
            report["models"]["shadow"]["accuracy"] - report["models"]["champion"]["accuracy"], 6
        )
        tested = mcnemar(right["champion"], right["shadow"])
        report["mcnemar"] = {
            "only_champion_right": tested["only_champion_right"],
            "only_shadow_right": tested["only_challenger_right"],
            "p_value": tested["p_value"],
        }
    return report


def report(log_url: str, shadow_version: str | None = None) -> dict[str, Any]:
    """The summary of the prediction log under ``log_url`` (a folder or an ``s3://`` URL)."""
    summary = summarise(read_log(log_url, PREDICTIONS), read_log(log_url, FEEDBACK), shadow_version)
    return {"log": log_url, **summary}


@dataclass(frozen=True)
class Gate:
    """What a shadow must show before it goes on to the canary (``None``: not checked)."""

    min_agreement: float | None = None
    max_accuracy_drop: float | None = None  # the shadow may trail the champion by at most this
    min_labelled: int = 0

    def failures(self, summary: dict[str, Any]) -> list[str]:
        found = []
        if self.min_agreement is not None and summary["agreement"] < self.min_agreement:
            found.append(f"agreement {summary['agreement']:.4f} < {self.min_agreement}")
        if summary["labelled"] < self.min_labelled:
            found.append(f"{summary['labelled']} labelled pairs < {self.min_labelled}")
        if self.max_accuracy_drop is not None and summary["labelled"]:
            if -summary["accuracy_difference"] > self.max_accuracy_drop:
                found.append(
                    f"shadow accuracy trails the champion's by {-summary['accuracy_difference']:.4f} "
                    f"> {self.max_accuracy_drop}"
                )
        elif self.max_accuracy_drop is not None:
            found.append("no labelled pair: accuracy cannot be compared")
        return found
