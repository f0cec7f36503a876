"""Batch scoring on Spark: the same probabilities as local scoring, the input kept, failures contained."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
from typer.testing import CliRunner

from sentiment_mlops.batch.files import PredictInputError, predict_file
from sentiment_mlops.batch.spark_scoring import predict_dataset
from sentiment_mlops.cli import app
from sentiment_mlops.model.artifact import SentimentModel

pytestmark = [pytest.mark.integration, pytest.mark.shared]


@pytest.fixture(scope="module")
def model(small_model_dir: Path) -> SentimentModel:
    return SentimentModel.load(small_model_dir)


@pytest.fixture(scope="module")
def reviews(small_project: Path) -> pd.DataFrame:
    """Real reviews (the sample's test split) with their ids, and a few awkward texts."""
    df = pd.read_parquet(small_project / "data" / "processed" / "test.parquet")[["id", "text", "stars"]]
    odd = pd.DataFrame(
        {
            "id": ["odd-quote", "odd-empty", "odd-unicode"],
            "text": ['Quotes "inside", commas, and a\nnew line', "", "Ünïcödé – emoji 😀 fine"],
            "stars": [1, 5, 10],
        }
    )
    return pd.concat([df, odd], ignore_index=True)


def _local(model: SentimentModel, df: pd.DataFrame, tmp: Path) -> pd.DataFrame:
    df.to_parquet(tmp / "local-in.parquet", index=False)
    predict_file(model, tmp / "local-in.parquet", tmp / "local-out.parquet")
    return pd.read_parquet(tmp / "local-out.parquet").set_index("id")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_partitioned_parquet_is_scored_as_locally_to_the_bit(spark, model, reviews, tmp_path) -> None:
    source = tmp_path / "reviews"
    for day, part in (("2024-01-01", reviews.iloc[::2]), ("2024-01-02", reviews.iloc[1::2])):
        (source / f"day={day}").mkdir(parents=True)
        part.to_parquet(source / f"day={day}" / "part-0.parquet", index=False)

    rows = predict_dataset(spark, model, str(source), str(tmp_path / "scored"))

    assert rows == len(reviews)
    assert sorted(p.name for p in (tmp_path / "scored").glob("day=*")) == ["day=2024-01-01", "day=2024-01-02"]
    out = pd.read_parquet(tmp_path / "scored")
    assert list(out.columns) == ["id", "text", "stars", "label", "probability", "model_version", "day"]
    assert out["id"].is_unique and len(out) == len(reviews)
    assert set(out.loc[out["day"] == "2024-01-01", "id"]) == set(reviews.iloc[::2]["id"])
    assert (out["model_version"] == model.version).all()
    local = _local(model, reviews, tmp_path).loc[out["id"]]
    assert out["probability"].tolist() == local["probability"].tolist()  # bit for bit
    assert out["label"].tolist() == local["label"].tolist()
    assert out["text"].tolist() == local["text"].tolist()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_csv_and_jsonl_inputs(spark, model, reviews, tmp_path, suffix) -> None:
    df = reviews.tail(40)
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        df.to_csv(source, index=False)
    else:
        df.to_json(source, orient="records", lines=True, force_ascii=False)

    assert predict_dataset(spark, model, str(source), str(tmp_path / "out")) == len(df)

    out = pd.read_parquet(tmp_path / "out").set_index("id").loc[df["id"]]
    # Quotes, new lines and unicode survive; Spark reads an empty CSV field as null (scored as "").
    assert out["text"].fillna("").tolist() == df["text"].tolist()
    assert out["probability"].tolist() == model.predict_proba(df["text"].tolist()).round(6).tolist()


def test_a_malformed_file_fails_with_its_name_and_leaves_nothing(spark, model, reviews, tmp_path) -> None:
    source = tmp_path / "lake"
    source.mkdir()
    reviews.head(20).to_json(source / "good.jsonl", orient="records", lines=True)
    (source / "broken.jsonl").write_text('{"id": "x", "text": "fine"}\n{"id": "y", "text": "cut off\n')
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "previous.parquet").write_text("an earlier result")

    with pytest.raises(PredictInputError, match=r"broken\.jsonl"):
        predict_dataset(spark, model, str(source), str(dest), fmt="jsonl")

    assert [p.name for p in dest.iterdir()] == ["previous.parquet"]  # the old result is untouched
    assert _leftovers(tmp_path) == []


def test_cli_names_a_missing_column_and_exits_2(spark, small_model_dir, reviews, tmp_path) -> None:
    reviews.rename(columns={"text": "body"}).head(5).to_parquet(tmp_path / "in.parquet", index=False)
    args = ["predict", "--engine", "spark", "-i", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--model-uri", str(small_model_dir)])
    assert result.exit_code == 2
    assert "no column 'text'" in result.output
    assert not (tmp_path / "out").exists()

    ok = CliRunner().invoke(app, [*args, "--model-uri", str(small_model_dir), "--text-column", "body"])
    assert ok.exit_code == 0, ok.output
    assert "scored 5 reviews" in ok.output


def _python_workers() -> list[psutil.Process]:
    """Spark's Python workers started under this test process: forks of pyspark's daemon."""
    workers = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "pyspark.daemon" in process.cmdline() and "pyspark.daemon" in process.parent().cmdline():
                workers.append(process)
        except psutil.Error:  # it ended while we looked
            continue
    return workers


def test_a_killed_python_worker_is_retried_and_nothing_is_duplicated(spark, model, reviews, tmp_path) -> None:
    source = tmp_path / "many"
    source.mkdir()
    big = pd.concat([reviews] * 3, ignore_index=True)
    big["id"] = [f"r{i}" for i in range(len(big))]
    for i in range(12):
        big.iloc[i::12].to_parquet(source / f"part-{i:02}.parquet", index=False, row_group_size=100)
    # Small splits, so many tasks: some finish before the kill, some run into it, some come after.
    spark.conf.set("spark.sql.files.maxPartitionBytes", "64k")
    tracker = spark.sparkContext.statusTracker()
    killed: dict[str, Any] = {}

    def kill_mid_job() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for stage_id in tracker.getActiveStageIds():
                info = tracker.getStageInfo(stage_id)
                if info and info.numTasks >= 8 and info.numCompletedTasks >= 1 and info.numActiveTasks >= 1:
                    workers = _python_workers()
                    for worker in workers:
                        with contextlib.suppress(psutil.Error):
                            worker.kill()
                    if workers:
                        killed.update(stage=stage_id, pids=[w.pid for w in workers])
            time.sleep(0.01)

    killer = threading.Thread(target=kill_mid_job, daemon=True)
    killer.start()
    try:
        rows = predict_dataset(spark, model, str(source), str(tmp_path / "out"))
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    killer.join()

    assert killed, "no Python worker was killed mid-job"
    assert tracker.getStageInfo(killed["stage"]).numFailedTasks >= 1  # Spark saw the loss and retried
    out = pd.read_parquet(tmp_path / "out")
    assert rows == len(out) == len(big)
    assert out["id"].is_unique and set(out["id"]) == set(big["id"])  # complete, no duplicate
    assert _leftovers(tmp_path) == []


def test_only_the_text_column_goes_to_python_once_whatever_the_column_names(spark, model, reviews) -> None:
    from sentiment_mlops.batch.spark_scoring import scored

    df = reviews.head(30).rename(columns={"text": "review.body", "stars": "star`s"})
    out = scored(spark, spark.createDataFrame(df), model, "review.body")
    plan = out._jdf.queryExecution().executedPlan().toString()

    # One Python evaluation, fed the text alone: the other columns never cross to Python and back.
    assert plan.count("ArrowEvalPython") == 1
    assert "star`s" not in plan.split("ArrowEvalPython", 1)[1].split("\n", 1)[0]
    got = out.toPandas()
    assert list(got.columns) == ["id", "review.body", "star`s", "label", "probability", "model_version"]
    assert got["star`s"].tolist() == df["star`s"].tolist()
    assert got["probability"].tolist() == model.predict_proba(df["review.body"].tolist()).round(6).tolist()
