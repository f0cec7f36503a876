"""`sentiment feedback export`: the join by id, latest label wins, conflicts counted, leakage guard."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.feedback import export, join
from sentiment_mlops.data.labelled import read_labelled
from sentiment_mlops.data.log_format import arrow_schema
from sentiment_mlops.serving.log_sink import write_segment
from sentiment_mlops.serving.prediction_log import LogSettings, PredictionLog

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def predictions(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "ts": [T0 + dt.timedelta(seconds=i) for i in range(n)],
            "text": [f"production review {i}" for i in range(n)],
            "probability": [0.8] * n,
            "model_version": ["1"] * n,
            "role": ["champion"] * n,
        }
    )


def feedback(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "label": [r[1] for r in rows],
            "ts": [T0 + dt.timedelta(minutes=r[2]) for r in rows],
        }
    )


def test_the_latest_label_wins_and_conflicts_duplicates_unknowns_are_counted() -> None:
    fb = feedback(
        [
            ("p0", "positive", 1),
            ("p0", "negative", 2),  # conflict: the later label wins
            ("p1", "negative", 1),
            ("p1", "negative", 3),  # duplicate, same label
            ("nope", "positive", 1),  # unknown id
            ("p2", "maybe", 1),  # invalid label
        ]
    )
    joined, stats = join(predictions(3), fb, evaluation_texts=[])
    assert dict(zip(joined["id"], joined["label"], strict=True)) == {"p0": 0, "p1": 0}
    assert stats.conflicts == 1 and stats.duplicates == 2 and stats.unknown_ids == 1
    assert stats.invalid_labels == 1


def test_texts_of_the_evaluation_set_never_reach_training() -> None:
    fb = feedback([(f"p{i}", "positive", i) for i in range(4)])
    joined, stats = join(predictions(4), fb, evaluation_texts=["production review 2 ", "unrelated"])
    assert "p2" not in set(joined["id"]) and stats.leaked == 1 and len(joined) == 3


def test_a_shadows_rows_never_stand_for_the_served_prediction() -> None:
    served = predictions(2)
    shadow = served.assign(probability=0.1, model_version="2", role="shadow")
    both = pd.concat([shadow, served], ignore_index=True)  # the shadow's rows first: not picked
    joined, stats = join(both, feedback([("p0", "positive", 0), ("p1", "negative", 0)]), [])
    assert list(joined["model_version"]) == ["1", "1"] and list(joined["probability"]) == [0.8, 0.8]
    assert stats.predictions == 4 and stats.unknown_ids == 0


def test_rows_logged_without_text_cannot_train_and_are_counted() -> None:
    preds = predictions(2)
    preds.loc[1, "text"] = None
    joined, stats = join(preds, feedback([("p0", "positive", 0), ("p1", "negative", 0)]), [])
    assert list(joined["id"]) == ["p0"] and stats.without_text == 1


def test_export_reads_the_log_and_holds_out_the_newest_window(tmp_path: Path) -> None:
    log_url = str(tmp_path / "log")
    plog = PredictionLog(LogSettings(log_url))
    n = 20
    ids = [f"r{i}" for i in range(n)]
    plog.log_predictions(
        ids, [f"text {i}" for i in range(n)], [0.9] * n, [2] * n, [0.0] * n, "sentiment", "1", "/v1/predict"
    )
    plog.log_feedback(ids, ["positive" if i % 3 else "negative" for i in range(n)])
    plog.close()
    train_out, window_out = tmp_path / "labelled" / "feedback.parquet", tmp_path / "window.parquet"
    counts = export(log_url, ["text 0"], train_out, window_out, holdout_fraction=0.25, min_holdout=2)
    assert counts["leaked"] == 1 and counts["trained"] + counts["window"] == n - 1
    train, window = read_labelled(train_out), read_labelled(window_out)  # the labelled-file format
    assert len(window) == 5 and not set(train["id"]) & set(window["id"])
    assert set(train["source"]) == {"feedback"}


def test_export_without_feedback_is_an_error(tmp_path: Path) -> None:
    table = pa.Table.from_pylist([], schema=arrow_schema("predictions"))
    write_segment(str(tmp_path), "predictions/date=2026-03-01/part-0.parquet", table)
    with pytest.raises(DataError, match="no feedback"):
        export(str(tmp_path), [], tmp_path / "a.parquet", tmp_path / "b.parquet", 0.3, 1)
