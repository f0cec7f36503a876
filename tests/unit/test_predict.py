"""Batch prediction: CSV, JSONL and parquet in and out, streamed, and nothing left behind on error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sentiment_mlops.batch.files import PredictInputError, file_format, format_one, predict_file
from sentiment_mlops.cli import app
from sentiment_mlops.model.artifact import SentimentModel

REVIEWS = [
    "A wonderful, moving film. The cast is superb!",
    "Dull, predictable and far too long. Avoid.",
    'Quotes "inside", commas, and a\nnew line',
    "Ünïcödé – and emoji 😀 survive the round trip",
    "",
]


@pytest.fixture(scope="module")
def model(small_model_dir: Path) -> SentimentModel:
    return SentimentModel.load(small_model_dir)


def _frame(n: int = 53) -> pd.DataFrame:
    texts = [REVIEWS[i % len(REVIEWS)] + f" #{i}" for i in range(n)]
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": texts, "source": "unit"})


def _write(df: pd.DataFrame, path: Path) -> Path:
    kind = file_format(path)
    if kind == "csv":
        df.to_csv(path, index=False)
    elif kind == "jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        df.to_parquet(path, index=False)
    return path


def _read(path: Path) -> pd.DataFrame:
    kind = file_format(path)
    if kind == "csv":
        return pd.read_csv(path, dtype={"id": str, "text": str, "source": str}, keep_default_na=False)
    if kind == "jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_parquet(path)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("src_suffix", [".csv", ".jsonl", ".parquet"])
@pytest.mark.parametrize("dest_suffix", [".csv", ".jsonl", ".parquet"])
def test_round_trip(model: SentimentModel, tmp_path: Path, src_suffix: str, dest_suffix: str) -> None:
    df = _frame()
    src = _write(df, tmp_path / f"in{src_suffix}")
    dest = tmp_path / f"out{dest_suffix}"
    assert predict_file(model, src, dest) == len(df)
    out = _read(dest)
    assert list(out.columns) == ["id", "text", "source", "label", "probability"]
    assert out["id"].tolist() == df["id"].tolist()
    assert out["text"].tolist() == df["text"].tolist()  # quotes, commas, new lines, unicode intact
    expected = model.predict_proba(df["text"].tolist())
    np.testing.assert_allclose(out["probability"].to_numpy(float), expected, atol=1e-6)
    assert out["label"].tolist() == ["positive" if p >= 0.5 else "negative" for p in expected]
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_streams_in_chunks_smaller_than_the_file(model: SentimentModel, tmp_path: Path, suffix: str) -> None:
    df = _frame(53)
    src = _write(df, tmp_path / f"in{suffix}")
    whole, chunked = tmp_path / f"whole{suffix}", tmp_path / f"chunked{suffix}"
    assert predict_file(model, src, whole, batch_size=10_000) == 53
    assert predict_file(model, src, chunked, batch_size=7) == 53  # 8 chunks, the last one short
    pd.testing.assert_frame_equal(_read(chunked), _read(whole))
    if suffix == ".csv":
        assert chunked.read_text().count("id,text,source,label,probability") == 1  # one header
    if suffix == ".parquet":
        assert pq.ParquetFile(chunked).metadata.num_row_groups == 8


def test_other_text_column(model: SentimentModel, tmp_path: Path) -> None:
    src = _write(pd.DataFrame({"review": ["Great fun!", "Awful."]}), tmp_path / "in.csv")
    assert predict_file(model, src, tmp_path / "out.jsonl", text_column="review") == 2
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["review"] for r in rows] == ["Great fun!", "Awful."]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_missing_text_column(model: SentimentModel, tmp_path: Path, suffix: str) -> None:
    src = _write(pd.DataFrame({"body": ["Great fun!"]}), tmp_path / f"in{suffix}")
    dest = tmp_path / "out.csv"
    with pytest.raises(PredictInputError, match=r"no column 'text' \(columns: body\)"):
        predict_file(model, src, dest)
    assert not dest.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("in.parquet", b"PAR1 this is not parquet", "cannot read as parquet"),
        ("in.jsonl", b'{"text": "ok"}\n{"text": broken\n', "cannot read as jsonl"),
        ("in.csv", b"text\n\xff\xfe\xfa not utf-8\n", "cannot read as csv"),
    ],
)
def test_unreadable_file(
    model: SentimentModel, tmp_path: Path, name: str, content: bytes, match: str
) -> None:
    src = tmp_path / name
    src.write_bytes(content)
    dest = tmp_path / "out.parquet"
    with pytest.raises(PredictInputError, match=match) as info:
        predict_file(model, src, dest)
    assert str(src) in str(info.value)
    assert not dest.exists() and _leftovers(tmp_path) == []


def test_failure_after_some_chunks_leaves_nothing(model: SentimentModel, tmp_path: Path) -> None:
    """A bad line late in the file: the chunks already scored are discarded, an old output kept."""
    src = tmp_path / "in.jsonl"
    good = "".join(json.dumps({"text": f"review {i}"}) + "\n" for i in range(30))
    src.write_text(good + "{not json}\n")
    dest = tmp_path / "out.jsonl"
    dest.write_text("previous results\n")
    with pytest.raises(PredictInputError, match="cannot read as jsonl"):
        predict_file(model, src, dest, batch_size=10)
    assert dest.read_text() == "previous results\n"
    assert _leftovers(tmp_path) == []


def test_missing_file_and_unknown_suffix(model: SentimentModel, tmp_path: Path) -> None:
    with pytest.raises(PredictInputError, match="no such file"):
        predict_file(model, tmp_path / "absent.csv", tmp_path / "out.csv")
    (tmp_path / "in.txt").write_text("text\nfine\n")
    with pytest.raises(PredictInputError, match=r"unsupported file type '\.txt'"):
        predict_file(model, tmp_path / "in.txt", tmp_path / "out.csv")
    _write(_frame(3), tmp_path / "in.csv")
    with pytest.raises(PredictInputError, match=r"unsupported file type '\.xlsx'"):
        predict_file(model, tmp_path / "in.csv", tmp_path / "out.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "in.txt"]


def test_format_one(model: SentimentModel) -> None:
    line = json.loads(format_one(model, REVIEWS[0]))
    assert set(line) == {"label", "probability", "model_version"}
    assert line["model_version"] == model.version
    assert line["probability"] == pytest.approx(float(model.predict_proba([REVIEWS[0]])[0]), abs=1e-6)


# --- through the CLI -------------------------------------------------------------------------


@pytest.fixture
def cli_env(small_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SENTIMENT_HOME", str(small_project))
    monkeypatch.setenv("SENTIMENT_MODEL_URI", str(small_project / "models" / "model"))
    return small_project


def test_cli_scores_a_file(cli_env: Path, tmp_path: Path) -> None:
    src = _write(_frame(20), tmp_path / "in.parquet")
    result = CliRunner().invoke(app, ["predict", "--input", str(src), "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert f"scored 20 reviews -> {tmp_path / 'o.csv'}" in result.stdout
    assert len(_read(tmp_path / "o.csv")) == 20


def test_cli_single_text(cli_env: Path) -> None:
    result = CliRunner().invoke(app, ["predict", "A wonderful, moving film. The cast is superb!"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label"] in ("positive", "negative")


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: _write(pd.DataFrame({"body": ["x"]}), d / "in.csv"), "no column 'text'"),
        (lambda d: d / "absent.jsonl", "no such file"),
        (lambda d: (d / "in.tsv").write_text("text\nx\n") and d / "in.tsv", "unsupported file type"),
    ],
)
def test_cli_bad_input_exits_2(cli_env: Path, tmp_path: Path, make_input: object, message: str) -> None:
    assert callable(make_input)
    src = make_input(tmp_path)
    dest = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["predict", "--input", str(src), "--output", str(dest)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: predict: ") and message in result.stderr
    assert not dest.exists() and _leftovers(tmp_path) == []


def test_cli_needs_text_or_input(cli_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["predict"])
    assert result.exit_code == 2 and "give either a TEXT argument or --input FILE" in result.stderr
    src = _write(_frame(2), tmp_path / "in.csv")
    result = runner.invoke(app, ["predict", "--input", str(src)])
    assert result.exit_code == 2 and "--input needs --output" in result.stderr
