"""The reviews' schema: columns, the published counts, validation (pandera) and the parquet writer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sentiment_mlops.data.errors import DataError
from sentiment_mlops.files import atomic_path

INTERIM_SPLITS = ("train", "test", "unsup")
COLUMNS = ("id", "text", "stars", "label", "movie")

# The published dataset: 12,500 positive and 12,500 negative reviews in train and in test, 50,000 unlabelled.
EXPECTED_LABEL_COUNTS: dict[str, dict[int, int]] = {
    "train": {1: 12_500, 0: 12_500},
    "test": {1: 12_500, 0: 12_500},
    "unsup": {-1: 50_000},
}

_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("stars", pa.int8(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        # The IMDB title id (tt...) the review is about: validation is split by movie, as test is.
        pa.field("movie", pa.string(), nullable=False),
    ]
)


def _schema(split: str) -> Any:
    """The pandera schema of one split's reviews."""
    import pandera.pandas as pdv  # heavy import: only when validating

    labels = [-1] if split == "unsup" else [0, 1]
    id_pattern = r"^train/unsup/\d+$" if split == "unsup" else rf"^{split}/(pos|neg)/\d+$"

    def consistent(df: pd.DataFrame) -> pd.Series:
        pos = (df["label"] == 1) & df["stars"].between(7, 10)
        neg = (df["label"] == 0) & df["stars"].between(1, 4)
        unsup = (df["label"] == -1) & (df["stars"] == 0)
        return pos | neg | unsup

    return pdv.DataFrameSchema(
        {
            "id": pdv.Column(
                "str",
                [
                    pdv.Check.str_matches(id_pattern, name="id format"),
                    pdv.Check(lambda s: ~s.duplicated(keep=False), name="duplicate id"),
                ],
            ),
            "text": pdv.Column("str", pdv.Check(lambda s: s.str.strip().str.len() > 0, name="empty text")),
            "stars": pdv.Column("int8", pdv.Check(lambda s: s.between(0, 10), name="stars outside 0-10")),
            "label": pdv.Column("int8", pdv.Check.isin(labels, name=f"label not in {labels}")),
            "movie": pdv.Column("str", pdv.Check(lambda s: s.str.len() > 0, name="empty movie")),
        },
        checks=[pdv.Check(consistent, name="label inconsistent with stars")],
        strict=True,
        ordered=True,
        name=split,
    )


def _describe_failures(cases: pd.DataFrame, df: pd.DataFrame) -> list[str]:
    """One line per failed check: how many reviews fail it and the first few ids (or the bad column)."""
    lines = []
    for check, group in cases.groupby("check", sort=True):
        rows = pd.unique(group["index"].dropna().astype(int))
        if len(rows) and "id" in df:
            ids = ", ".join(str(df["id"].iloc[i]) for i in rows[:3])
            lines.append(f"{check}: {len(rows):,} review(s), e.g. {ids}")
        else:  # a problem with a whole column: missing, unexpected or of the wrong type
            where = ", ".join(
                f"{c}: {v}" for c, v in zip(group["column"], group["failure_case"], strict=True)
            )
            lines.append(f"{check} ({where})")
    return lines


def validate(df: pd.DataFrame, split: str, expected_counts: dict[int, int] | None = None) -> None:
    """Raise :class:`DataError` naming every failed expectation of one split's reviews.

    ``expected_counts`` maps label -> number of reviews; when given, the split must match it exactly.
    """
    import pandera.pandas as pdv

    problems: list[str] = []
    try:
        _schema(split).validate(df, lazy=True)
    except pdv.errors.SchemaErrors as exc:
        problems.extend(_describe_failures(exc.failure_cases, df))
    if expected_counts is not None:
        found = label_counts(df) if "label" in df else {}
        total, want = len(df), sum(expected_counts.values())
        if total != want:
            problems.append(f"expected {want:,} reviews, found {total:,}")
        for label, count in expected_counts.items():
            if found.get(label, 0) != count:
                problems.append(
                    f"expected {count:,} reviews with label {label}, found {found.get(label, 0):,}"
                )
    if problems:
        raise DataError(f"{split} split failed validation: " + "; ".join(problems))


def label_counts(df: pd.DataFrame) -> dict[int, int]:
    """Number of reviews per label, by label."""
    return dict(sorted(Counter(int(v) for v in df["label"].to_numpy()).items()))


def write_parquet(df: pd.DataFrame, dest: Path) -> Path:
    """Write reviews atomically with a fixed schema (same frame -> byte-identical file)."""
    table = pa.Table.from_pandas(df[list(COLUMNS)], schema=_SCHEMA, preserve_index=False)
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return dest
