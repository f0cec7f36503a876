"""Labelled review files: the formats, the validation that names file, row and column, weighting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.config import LabelledSource
from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.labelled import read_labelled, repeat_by_weight, with_sources

ROWS = [
    {"id": "a", "text": "A wonderful, moving film.", "label": "positive", "source": "shop"},
    {"id": "b", "text": "Dull and far too long.", "label": "negative", "source": "shop"},
    {"id": "c", "text": "I laughed all the way through.", "label": "1", "source": "shop"},
]


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    df = pd.DataFrame(rows)
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        df.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_each_format_reads_to_the_same_labelled_frame(tmp_path: Path, suffix: str) -> None:
    df = read_labelled(write(tmp_path / f"own{suffix}", ROWS))
    assert list(df.columns) == ["id", "text", "label", "source", "timestamp"]
    assert df["label"].tolist() == [1, 0, 1]
    assert df["id"].tolist() == ["a", "b", "c"] and set(df["source"]) == {"shop"}


def test_optional_columns_are_filled(tmp_path: Path) -> None:
    df = read_labelled(
        write(tmp_path / "mine.csv", [{"text": "Great.", "label": 1}, {"text": "Bad.", "label": 0}])
    )
    assert df["id"].tolist() == ["mine/1", "mine/2"] and set(df["source"]) == {"mine"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"text": "ok", "label": "maybe"}], r"own\.csv: 1 problem\(s\): row 1, column 'label': 'maybe'"),
        ([{"text": "ok", "label": 1}, {"text": "  ", "label": 0}], r"row 2, column 'text': empty"),
        (
            [{"id": "x", "text": "a", "label": 1}, {"id": "x", "text": "b", "label": 0}],
            r"row 2, column 'id': duplicate",
        ),
        ([{"text": "a", "label": 1, "timestamp": "yesterday-ish"}], r"row 1, column 'timestamp'"),
        ([{"review": "a", "label": 1}], r"own\.csv: missing column\(s\) 'text'"),
        ([{"text": "a", "label": 1, "stars": 9}], r"unexpected column\(s\) 'stars'"),
    ],
)
def test_errors_name_the_file_row_and_column(
    tmp_path: Path, rows: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        read_labelled(write(tmp_path / "own.csv", rows))


def test_unsupported_or_missing_files_are_errors(tmp_path: Path) -> None:
    (tmp_path / "own.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type"):
        read_labelled(tmp_path / "own.xlsx")
    with pytest.raises(DataError, match="not found"):
        read_labelled(tmp_path / "absent.csv")


def test_weight_repeats_rows() -> None:
    df = pd.DataFrame({"text": [f"t{i}" for i in range(1000)], "label": [i % 2 for i in range(1000)]})
    assert len(repeat_by_weight(df, 2.0, 0)) == 2000
    assert 450 < len(repeat_by_weight(df, 0.5, 0)) < 550
    assert repeat_by_weight(df, 1.5, 3).equals(repeat_by_weight(df, 1.5, 3))  # seeded


def test_sources_join_the_training_frame_with_checksum_and_counts(tmp_path: Path) -> None:
    write(tmp_path / "own.csv", ROWS)
    train = pd.DataFrame({"text": ["imdb one", "imdb two"], "label": [0, 1], "id": ["x", "y"]})
    sources = [
        LabelledSource(name="own", path="own.csv", weight=2.0),
        LabelledSource(name="feedback", path="absent.parquet", optional=True),
    ]
    frame, described = with_sources(train, sources, tmp_path, seed=1)
    assert len(frame) == 2 + 2 * 3
    (info,) = described
    assert info["name"] == "own" and info["rows"] == 3 and info["rows_trained"] == 6
    assert len(info["sha256"]) == 64 and info["path"] == "own.csv"
    with pytest.raises(DataError, match="not found"):
        with_sources(train, [LabelledSource(name="x", path="absent.csv")], tmp_path, seed=1)
