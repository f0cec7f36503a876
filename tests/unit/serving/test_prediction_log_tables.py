"""The Arrow column builder gives exactly the tables the list builder it replaced gave."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sentiment_mlops.serving import log_reference, log_tables
from sentiment_mlops.serving.prediction_log import LogSettings, PredictionLog

MIDNIGHT = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a batch just before it, others after


def _batches(seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    words = ["good", "bad", "naïve", "film", "😀", "ending", "", "\n"]
    batches = []
    for b in range(60):
        n = rng.choice([1, 1, 1, 2, 5, 17])
        batches.append(
            {
                "ids": [f"req{b}.{i}.p.v{b % 3}" for i in range(n)],
                "texts": [" ".join(rng.choices(words, k=rng.randint(0, 40))) for _ in range(n)],
                # 0.5 exactly is positive; the extremes too
                "probabilities": [rng.choice([0.0, 0.5, 1.0, rng.random()]) for _ in range(n)],
                "n_tokens": [rng.randint(0, 2_000) for _ in range(n)],
                "unseen": [rng.random() for _ in range(n)],
                "meta": (
                    "sentiment",
                    f"v{b % 3}",
                    rng.choice(["/v1/predict", "/v2/x"]),
                    rng.choice(["champion", "shadow"]),
                    MIDNIGHT - 0.5 + b * 0.0123456,
                ),
            }
        )
    return batches


def _old_entry(b: dict[str, Any]) -> tuple[Any, ...]:
    return (b["ids"], b["texts"], b["probabilities"], b["n_tokens"], b["unseen"], *b["meta"])


def _new_entry(mode: str, b: dict[str, Any]) -> tuple[Any, ...]:
    return log_tables.prediction_entry(
        mode,  # type: ignore[arg-type]
        b["ids"],
        b["texts"],
        b["probabilities"],
        b["n_tokens"],
        b["unseen"],
        b["meta"],
    )


@pytest.mark.parametrize("mode", ["full", "hash", "none"])
def test_the_arrow_builder_gives_the_old_builders_table(mode: str) -> None:
    batches = _batches()
    old = log_reference.prediction_table([_old_entry(b) for b in batches], mode)  # type: ignore[arg-type]
    new = log_tables.prediction_table([_new_entry(mode, b) for b in batches])
    assert new.num_rows == old.num_rows == sum(len(b["ids"]) for b in batches)
    assert new.schema.equals(old.schema, check_metadata=True)
    assert new.equals(old), new.to_pandas().compare(old.to_pandas())


@pytest.mark.parametrize("mode", ["full", "hash", "none"])
def test_a_segment_built_in_slices_is_the_same_table(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sentiment_mlops.serving import prediction_log

    monkeypatch.setattr(prediction_log, "SLICE_ENTRIES", 7)  # 60 entries: 9 slices, the last short
    batches = _batches(seed=11)
    plog = PredictionLog(LogSettings("unused", text_mode=mode))  # type: ignore[arg-type]
    sliced = plog.predictions._table([_new_entry(mode, b) for b in batches])
    assert sliced.column(0).num_chunks == 9
    old = log_reference.prediction_table([_old_entry(b) for b in batches], mode)  # type: ignore[arg-type]
    assert sliced.equals(old)


def test_the_feedback_table_is_the_old_builders_table() -> None:
    entries = [([f"r{i}", f"s{i}"], ["positive", "negative"], MIDNIGHT - 1 + i * 0.337) for i in range(9)]
    assert log_tables.feedback_table(entries).equals(log_reference.feedback_table(entries))
