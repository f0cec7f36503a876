"""The ingest stage on tiny archives: typed parquet and a manifest, or a DataError and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.config import Params, Paths, SplitParams
from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.fetch import fetch_archive
from sentiment_mlops.data.ingest import ingest
from tests.unit.data.builders import extras, make_archive, outputs_left, reviews, sha256

# --- ingest: the happy path -----------------------------------------------------------------


def test_ingest_writes_typed_parquet_and_manifest(paths: Paths, archive: Path) -> None:
    out = ingest(paths, Params(), source=str(archive), sample=8)

    assert out == {s: paths.interim / f"{s}.parquet" for s in ("train", "test", "unsup")}
    train = pd.read_parquet(out["train"])
    assert list(train.columns) == ["id", "text", "stars", "label", "movie"]
    assert [str(t) for t in train.dtypes] == ["str", "str", "int8", "int8", "str"]
    # train/urls_pos.txt lists the movie of review 0 only; the others are their own group.
    movies = train.set_index("id")["movie"]
    assert movies["train/pos/0"] == "tt0000001"
    assert movies["train/pos/1"] == "train/pos/1"
    assert train["id"].tolist() == [f"train/neg/{i}" for i in range(4)] + [f"train/pos/{i}" for i in range(4)]
    assert train.set_index("id").loc["train/pos/3", "stars"] == 10
    assert set(train.loc[train["id"].str.contains("/pos/"), "label"]) == {1}
    assert set(train.loc[train["id"].str.contains("/neg/"), "label"]) == {0}
    # Text is kept exactly as in the archive: HTML breaks and non-ASCII characters included.
    assert train.set_index("id").loc["train/pos/2", "text"] == (
        "train/pos review 2: a film.<br /><br />Naïve – but “fine”!"
    )
    unsup = pd.read_parquet(out["unsup"])
    assert unsup["id"].tolist() == [f"train/unsup/{i}" for i in range(8)]
    assert set(unsup["stars"]) == {0} and set(unsup["label"]) == {-1}

    manifest = json.loads((paths.interim / "manifest.json").read_text())
    assert manifest["archive_sha256"] == sha256(archive)
    assert manifest["counts"] == {"train": 8, "test": 8, "unsup": 8}
    assert manifest["label_counts"]["test"] == {"0": 4, "1": 4}
    assert manifest["sample"] == 8
    assert outputs_left(paths) == [
        "data/interim/manifest.json",
        "data/interim/test.parquet",
        "data/interim/train.parquet",
        "data/interim/unsup.parquet",
    ]


def test_sample_is_stratified_and_seeded(paths: Paths, tmp_path: Path) -> None:
    big = make_archive(tmp_path / "big.tar.gz", reviews(per_folder=30))
    ingest(paths, Params(), source=str(big), sample=10)
    first = pd.read_parquet(paths.interim / "train.parquet")
    assert len(first) == 10
    assert first["label"].value_counts().to_dict() == {0: 5, 1: 5}
    assert len(pd.read_parquet(paths.interim / "unsup.parquet")) == 10
    bytes_first = (paths.interim / "train.parquet").read_bytes()

    ingest(paths, Params(), source=str(big), sample=10)
    assert (paths.interim / "train.parquet").read_bytes() == bytes_first

    ingest(paths, Params(split=SplitParams(seed=7)), source=str(big), sample=10)
    other = pd.read_parquet(paths.interim / "train.parquet")
    assert other["label"].value_counts().to_dict() == {0: 5, 1: 5}
    assert set(other["id"]) != set(first["id"])


def test_full_ingest_checks_the_published_counts(paths: Paths, archive: Path) -> None:
    with pytest.raises(DataError, match=r"train split failed validation: .*expected 25,000 reviews, found 8"):
        ingest(paths, Params(), source=str(archive))
    assert outputs_left(paths) == []


def test_sample_larger_than_a_split_is_refused(paths: Paths, archive: Path) -> None:
    with pytest.raises(DataError, match=r"cannot sample 9 reviews from the train split: it has only 8"):
        ingest(paths, Params(), source=str(archive), sample=9)
    assert outputs_left(paths) == []


def test_archive_from_the_environment_is_read_in_place(
    paths: Paths, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTIMENT_DATA_ARCHIVE", str(archive))
    monkeypatch.setenv("SENTIMENT_DATA_SHA256", sha256(archive).upper())
    assert fetch_archive(paths, Params()) == archive
    ingest(paths, Params(), sample=8)
    assert not paths.raw.exists()  # nothing copied: raw data stays where it is
    assert json.loads((paths.interim / "manifest.json").read_text())["archive"] == "tiny.tar.gz"


def test_file_url_is_read_in_place(paths: Paths, archive: Path) -> None:
    assert fetch_archive(paths, Params(), source=archive.as_uri()) == archive


# --- ingest: bad input gives DataError and writes nothing ----------------------------------


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95, -4])
def test_truncated_archive(paths: Paths, archive: Path, tmp_path: Path, keep: float) -> None:
    # Cut inside a review, between reviews, near the end, and inside the gzip trailer (CRC and size).
    data = archive.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[: int(keep)])
    with pytest.raises(DataError, match=r"corrupt or truncated archive .*truncated\.tar\.gz"):
        ingest(paths, Params(), source=str(truncated), sample=8)
    assert outputs_left(paths) == []


def test_corrupt_non_gzip_file(paths: Paths, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"<html>404 Not Found</html>\n" * 20)
    with pytest.raises(DataError, match=r"corrupt or truncated archive .*bogus\.tar\.gz"):
        ingest(paths, Params(), source=str(bogus), sample=8)
    assert outputs_left(paths) == []


def test_missing_archive(paths: Paths, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"archive not found: .*nowhere\.tar\.gz"):
        ingest(paths, Params(), source=str(tmp_path / "nowhere.tar.gz"), sample=8)


def test_unsupported_source(paths: Paths) -> None:
    with pytest.raises(DataError, match=r"unsupported archive source 's3://bucket/a\.tar\.gz'"):
        fetch_archive(paths, Params(), source="s3://bucket/a.tar.gz")


def test_wrong_sha256(paths: Paths, archive: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(
        DataError, match=rf"checksum mismatch: .*tiny\.tar\.gz has sha256 {sha256(archive)}, "
    ):
        ingest(paths, Params(), source=str(archive), sha256=wrong, sample=8)
    assert outputs_left(paths) == []


def test_wrong_sha256_from_the_environment(
    paths: Paths, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTIMENT_DATA_SHA256", "f" * 64)
    with pytest.raises(DataError, match=r"checksum mismatch: .*expected f{64}"):
        ingest(paths, Params(), source=str(archive), sample=8)
    assert outputs_left(paths) == []


def test_malformed_sha256(paths: Paths, archive: Path) -> None:
    with pytest.raises(DataError, match=r"expected sha256 is not 64 hex digits: 'abc'"):
        fetch_archive(paths, Params(), source=str(archive), sha256="abc")


def test_missing_split(paths: Paths, tmp_path: Path) -> None:
    no_unsup = [r for r in reviews() if not r[0].startswith("train/unsup/")]
    bad = make_archive(tmp_path / "no-unsup.tar.gz", no_unsup + extras())
    with pytest.raises(DataError, match=r"no reviews in aclImdb/train/unsup/ \(missing split\)"):
        ingest(paths, Params(), source=str(bad), sample=8)
    assert outputs_left(paths) == []


def test_label_inconsistent_with_stars(paths: Paths, tmp_path: Path) -> None:
    # A "positive" review rated 3 stars: the folder and the rating disagree.
    members = [("train/pos/3_3.txt", c) if n == "train/pos/3_10.txt" else (n, c) for n, c in reviews()]
    bad = make_archive(tmp_path / "inconsistent.tar.gz", members)
    message = (
        r"train split failed validation: label inconsistent with stars: 1 review\(s\), e\.g\. train/pos/3$"
    )
    with pytest.raises(DataError, match=message):
        ingest(paths, Params(), source=str(bad), sample=8)
    assert outputs_left(paths) == []


def test_empty_review(paths: Paths, tmp_path: Path) -> None:
    members = [(n, b" \n\t" if n == "test/neg/1_3.txt" else c) for n, c in reviews()]
    bad = make_archive(tmp_path / "empty.tar.gz", members)
    message = r"test split failed validation: empty text: 1 review\(s\), e\.g\. test/neg/1$"
    with pytest.raises(DataError, match=message):
        ingest(paths, Params(), source=str(bad), sample=8)
    assert outputs_left(paths) == []


def test_duplicate_ids(paths: Paths, tmp_path: Path) -> None:
    # Two files for review 0 with different ratings map to the same id.
    bad = make_archive(tmp_path / "dup.tar.gz", [*reviews(), ("train/pos/0_9.txt", b"again")])
    message = r"train split failed validation: duplicate id: 2 review\(s\), e\.g\. train/pos/0, train/pos/0$"
    with pytest.raises(DataError, match=message):
        ingest(paths, Params(), source=str(bad), sample=8)
    assert outputs_left(paths) == []


def test_invalid_utf8_names_the_review(paths: Paths, tmp_path: Path) -> None:
    members = [(n, b"caf\xe9" if n == "test/pos/0_10.txt" else c) for n, c in reviews()]
    bad = make_archive(tmp_path / "latin1.tar.gz", members)
    with pytest.raises(DataError, match=r"review aclImdb/test/pos/0_10\.txt is not valid UTF-8"):
        ingest(paths, Params(), source=str(bad), sample=8)
    assert outputs_left(paths) == []


def test_failed_run_keeps_the_previous_outputs(paths: Paths, archive: Path, tmp_path: Path) -> None:
    ingest(paths, Params(), source=str(archive), sample=8)
    before = {p: p.read_bytes() for p in paths.interim.iterdir()}
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DataError):
        ingest(paths, Params(), source=str(truncated), sample=8)
    assert {p: p.read_bytes() for p in paths.interim.iterdir()} == before
