"""Unit tests of data ingestion on tiny archives with the IMDB layout, built in a temporary folder."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.config import DataParams, Params, Paths, SplitParams
from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.fetch import fetch_archive
from sentiment_mlops.data.ingest import ingest
from sentiment_mlops.data.splits import read_split, split
from tests.conftest import free_port

Review = tuple[str, bytes]  # (member name under aclImdb/, content)


def reviews(per_folder: int = 4) -> list[Review]:
    """A balanced tiny dataset: ``per_folder`` reviews in each labelled folder, twice as many unlabelled."""
    out: list[Review] = []
    for folder, stars_cycle in (
        ("train/pos", (7, 8, 9, 10)),
        ("train/neg", (1, 2, 3, 4)),
        ("test/pos", (10, 9, 8, 7)),
        ("test/neg", (4, 3, 2, 1)),
        ("train/unsup", (0,)),
    ):
        for i in range(2 * per_folder if folder == "train/unsup" else per_folder):
            stars = stars_cycle[i % len(stars_cycle)]
            text = f"{folder} review {i}: a film.<br /><br />Naïve – but “fine”!"
            out.append((f"{folder}/{i}_{stars}.txt", text.encode("utf-8")))
    return out


def extras() -> list[Review]:
    return [
        ("README", b"Large Movie Review Dataset"),
        ("imdb.vocab", b"the\nand\n"),
        ("train/urls_pos.txt", b"http://www.imdb.com/title/tt0000001/usercomments\n"),
        ("train/labeledBow.feat", b"0 0:1\n"),
    ]


def make_archive(path: Path, members: list[Review]) -> Path:
    """Write a tar.gz whose members live under ``aclImdb/`` (folders first, like the real archive)."""
    with tarfile.open(path, "w:gz") as tar:
        folders = sorted({str(Path("aclImdb", name).parent) for name, _ in members})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, content in members:
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test states its source explicitly; the developer's environment must not leak in."""
    monkeypatch.delenv("SENTIMENT_DATA_ARCHIVE", raising=False)
    monkeypatch.delenv("SENTIMENT_DATA_SHA256", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    root = tmp_path / "project"
    root.mkdir()
    return Paths(root)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return make_archive(tmp_path / "tiny.tar.gz", reviews() + extras())


def outputs_left(paths: Paths) -> list[str]:
    """Every file ingest or split may have written (outputs, manifests and temporary files)."""
    return sorted(
        str(p.relative_to(paths.root))
        for folder in (paths.interim, paths.processed)
        if folder.exists()
        for p in folder.iterdir()
    )


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


# --- fetch_archive over HTTP with pooch -----------------------------------------------------


class _CountingHandler(SimpleHTTPRequestHandler):
    gets: list[str]

    def do_GET(self) -> None:
        self.gets.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def http_server(archive: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve the archive's folder on 127.0.0.1; yield its base URL and the list of GET paths."""
    gets: list[str] = []
    handler = partial(type("Handler", (_CountingHandler,), {"gets": gets}), directory=str(archive.parent))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", gets
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def official(url: str, md5: str) -> Params:
    return Params(data=DataParams(archive_url=url, archive_md5=md5))


def test_download_verifies_md5_and_caches(
    paths: Paths, archive: Path, http_server: tuple[str, list[str]]
) -> None:
    base, gets = http_server
    params = official(f"{base}/tiny.tar.gz", hashlib.md5(archive.read_bytes()).hexdigest())

    first = fetch_archive(paths, params)
    assert first == paths.raw / "tiny.tar.gz"
    assert first.read_bytes() == archive.read_bytes()
    assert gets == ["/tiny.tar.gz"]

    second = fetch_archive(paths, params)
    assert second == first
    assert gets == ["/tiny.tar.gz"]  # served from the cache, not downloaded again

    ingest(paths, params, sample=8)
    assert gets == ["/tiny.tar.gz"]
    assert json.loads((paths.interim / "manifest.json").read_text())["archive_sha256"] == sha256(archive)


def test_download_with_wrong_md5_is_rejected(
    paths: Paths, archive: Path, http_server: tuple[str, list[str]]
) -> None:
    base, gets = http_server
    with pytest.raises(DataError, match=r"checksum mismatch for http://127\.0\.0\.1:\d+/tiny\.tar\.gz"):
        fetch_archive(paths, official(f"{base}/tiny.tar.gz", "0" * 32))
    assert gets == ["/tiny.tar.gz"]
    assert list(paths.raw.iterdir()) == []  # the rejected download is not kept


def test_download_failure_names_the_url(paths: Paths, http_server: tuple[str, list[str]]) -> None:
    base, _ = http_server
    with pytest.raises(DataError, match=r"could not download the archive from http://127\.0\.0\.1:\d+/gone"):
        fetch_archive(paths, official(f"{base}/gone.tar.gz", "0" * 32))


def test_url_from_the_environment_skips_the_official_md5(
    paths: Paths, archive: Path, http_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, gets = http_server
    monkeypatch.setenv("SENTIMENT_DATA_ARCHIVE", f"{base}/tiny.tar.gz")
    # Params() holds the official md5, which this archive does not match: it must not be applied.
    with pytest.raises(DataError, match=r"checksum mismatch for http://127\.0\.0\.1:\d+/tiny\.tar\.gz"):
        fetch_archive(paths, Params(), sha256="1" * 64)
    fetched = fetch_archive(paths, Params(), sha256=sha256(archive))
    assert fetched.parent == paths.raw
    assert fetched.read_bytes() == archive.read_bytes()
    fetch_archive(paths, Params(), sha256=sha256(archive))
    assert gets == ["/tiny.tar.gz", "/tiny.tar.gz"]  # the rejected try, then one download, then the cache


# --- split and read_split -------------------------------------------------------------------


@pytest.fixture
def ingested(paths: Paths, tmp_path: Path) -> Paths:
    big = make_archive(tmp_path / "big.tar.gz", reviews(per_folder=30))
    ingest(paths, Params(), source=str(big), sample=40)
    return paths


def test_split_is_stratified_disjoint_and_complete(ingested: Paths) -> None:
    out = split(ingested, Params())
    assert out == {s: ingested.processed / f"{s}.parquet" for s in ("train", "validation", "test")}
    train, val = read_split(ingested, "train"), read_split(ingested, "validation")
    assert len(val) == 8 and len(train) == 32  # validation_fraction 0.2 of 40
    assert val["label"].value_counts().to_dict() == {0: 4, 1: 4}
    assert train["label"].value_counts().to_dict() == {0: 16, 1: 16}
    assert not set(train["id"]) & set(val["id"])
    full = pd.read_parquet(ingested.interim / "train.parquet")
    assert sorted([*train["id"], *val["id"]]) == sorted(full["id"])
    assert out["test"].read_bytes() == (ingested.interim / "test.parquet").read_bytes()
    assert len(read_split(ingested, "unsup")) == 40


def test_split_is_deterministic(ingested: Paths) -> None:
    split(ingested, Params())
    first = {name: (ingested.processed / f"{name}.parquet").read_bytes() for name in ("train", "validation")}
    split(ingested, Params())
    second = {name: (ingested.processed / f"{name}.parquet").read_bytes() for name in ("train", "validation")}
    assert first == second
    split(ingested, Params(split=SplitParams(seed=1)))
    assert (ingested.processed / "validation.parquet").read_bytes() != first["validation"]


def test_split_without_ingest(paths: Paths) -> None:
    with pytest.raises(DataError, match=r"train split not found at .*interim/train\.parquet"):
        split(paths, Params())
    assert outputs_left(paths) == []


def test_read_split_errors(paths: Paths) -> None:
    with pytest.raises(DataError, match=r"unknown split 'dev': choose one of train, validation, test, unsup"):
        read_split(paths, "dev")
    with pytest.raises(DataError, match=r"validation split not found at .*processed/validation\.parquet"):
        read_split(paths, "validation")
    paths.processed.mkdir(parents=True)
    (paths.processed / "test.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"cannot read the test split at .*test\.parquet"):
        read_split(paths, "test")
