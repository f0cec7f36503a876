"""Fetch, verify and extract the IMDB archive; validate the reviews; write parquet splits.

The archive (``aclImdb/{train,test}/{pos,neg}/<id>_<stars>.txt`` and ``aclImdb/train/unsup/<id>_0.txt``)
is read once, as a stream, without extracting its 100,000 files to disk. Every output is written to a
temporary file beside its destination and renamed into place, so a failure never leaves a partial file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pooch
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from sentiment_mlops.config import Params, Paths
from sentiment_mlops.files import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

ARCHIVE_ENV = "SENTIMENT_DATA_ARCHIVE"
SHA256_ENV = "SENTIMENT_DATA_SHA256"

INTERIM_SPLITS = ("train", "test", "unsup")
PROCESSED_SPLITS = ("train", "validation", "test")
COLUMNS = ("id", "text", "stars", "label", "movie")

# Folders of the archive and what they hold: (split, label).
_FOLDERS: dict[tuple[str, str], tuple[str, int]] = {
    ("train", "pos"): ("train", 1),
    ("train", "neg"): ("train", 0),
    ("test", "pos"): ("test", 1),
    ("test", "neg"): ("test", 0),
    ("train", "unsup"): ("unsup", -1),
}
_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
# urls_<sentiment>.txt: line k is the IMDB page of the movie that review k is about.
_URLS = re.compile(r"^(?:\./)?aclImdb/(train|test)/urls_(pos|neg|unsup)\.txt$")
_MOVIE = re.compile(r"/title/(tt\d+)/")

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


class DataError(ValueError):
    """The archive or a dataset is missing, corrupt, fails its checksum or its validation."""


# --- fetching -------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, known_hash: str | None, fname: str | None, folder: Path) -> Path:
    """Download ``url`` into ``folder`` with pooch (verifies ``known_hash``; cached afterwards)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return Path(pooch.retrieve(url, known_hash=known_hash, fname=fname, path=folder, progressbar=True))
    except ValueError as exc:  # pooch's hash mismatch; it has already removed the download
        raise DataError(f"checksum mismatch for {url}: {exc}") from exc
    except Exception as exc:  # network and HTTP errors from requests, OSError
        raise DataError(f"could not download the archive from {url}: {exc}") from exc


def _fetch(paths: Paths, params: Params, source: str | None, sha256: str | None) -> tuple[Path, str]:
    """Resolve, download if needed and verify the archive; return its path and sha256."""
    source = source or os.environ.get(ARCHIVE_ENV) or None
    expected = (sha256 or os.environ.get(SHA256_ENV) or "").strip().lower() or None
    if expected is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise DataError(f"expected sha256 is not 64 hex digits: {expected!r}")

    if source is None:
        url = params.data.archive_url
        log.info("fetching the official archive %s", url)
        path = _download(url, f"md5:{params.data.archive_md5}", Path(urlparse(url).path).name, paths.raw)
    else:
        parsed = urlparse(source)
        if parsed.scheme in ("http", "https", "ftp"):
            # Our own copy of the data: only the sha256 given with it applies (not the official md5).
            known = f"sha256:{expected}" if expected else None
            log.info("fetching the archive %s", source)
            path = _download(source, known, None, paths.raw)
        elif parsed.scheme in ("", "file"):
            # Raw data is immutable: a local archive is read where it is, never copied.
            path = Path(unquote(parsed.path) if parsed.scheme == "file" else source).expanduser()
            if not path.is_file():
                raise DataError(f"archive not found: {path}")
        else:
            raise DataError(
                f"unsupported archive source {source!r}: give a local path or an http(s)/file URL"
            )

    digest = file_sha256(path)
    if expected is not None and digest != expected:
        raise DataError(f"checksum mismatch: {path} has sha256 {digest}, expected {expected}")
    return path, digest


def fetch_archive(paths: Paths, params: Params, source: str | None = None, sha256: str | None = None) -> Path:
    """Return a verified local copy of the IMDB archive.

    ``source`` (default ``$SENTIMENT_DATA_ARCHIVE``) is a local path or an http(s)/file URL; without one,
    the official archive is downloaded with pooch into ``paths.raw`` and checked against
    ``params.data.archive_md5``. ``sha256`` (default ``$SENTIMENT_DATA_SHA256``), when given, must match.
    Downloads are cached: a second call does not download again.
    """
    return _fetch(paths, params, source, sha256)[0]


# --- extraction -----------------------------------------------------------------------------


def _read_archive(path: Path) -> dict[str, pd.DataFrame]:
    """Stream the archive once and return one frame of reviews per split, sorted by id."""
    rows: dict[str, list[tuple[str, int, str, int, int]]] = {split: [] for split in INTERIM_SPLITS}
    seen_folders: set[tuple[str, str]] = set()
    movies: dict[tuple[str, str], list[str]] = {}
    try:
        with (
            path.open("rb") as raw,
            # The bar follows the compressed bytes read, whose total is known up front.
            tqdm.wrapattr(
                raw, "read", total=path.stat().st_size, desc="extract reviews", disable=None
            ) as read,
            gzip.GzipFile(fileobj=read, mode="rb") as unzipped,
            tarfile.open(fileobj=unzipped, mode="r|") as tar,
        ):
            for member in tar:
                urls = _URLS.match(member.name)
                if urls and member.isfile():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    lines = handle.read().decode("utf-8", errors="replace").splitlines()
                    movies[(urls[1], urls[2])] = [m[1] if (m := _MOVIE.search(u)) else "" for u in lines]
                    continue
                match = _MEMBER.match(member.name)
                if not match or not member.isfile():
                    continue  # README, imdb.vocab, urls_*.txt, folders
                folder, sentiment, num, stars = match.groups()
                if (folder, sentiment) not in _FOLDERS:
                    continue  # e.g. test/unsup does not exist in the dataset
                split, label = _FOLDERS[(folder, sentiment)]
                seen_folders.add((folder, sentiment))
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file always has content
                try:
                    text = handle.read().decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(f"review {member.name} is not valid UTF-8: {exc}") from exc
                rows[split].append((f"{folder}/{sentiment}/{num}", int(num), text, int(stars), label))
            # tarfile stops at the end-of-archive marker and treats a short read between members as the
            # end; reading the gzip stream to its end checks its length and CRC, so truncation is an error.
            while unzipped.read(1 << 20):
                pass
    except DataError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"corrupt or truncated archive {path}: {exc}") from exc

    missing = [f"aclImdb/{f}/{s}/" for f, s in _FOLDERS if (f, s) not in seen_folders]
    if missing:
        raise DataError(f"archive {path} has no reviews in {', '.join(missing)} (missing split)")

    frames = {}
    for split, items in rows.items():
        # Sorted by folder then numeric id, so outputs do not depend on the archive's member order.
        items.sort(key=lambda r: (r[0].rsplit("/", 1)[0], r[1]))
        frames[split] = pd.DataFrame(
            {
                "id": pd.Series([r[0] for r in items], dtype="str"),
                "text": pd.Series([r[2] for r in items], dtype="str"),
                # Stars above 127 would wrap in int8; clip so validation sees them out of range.
                "stars": pd.Series(np.minimum([r[3] for r in items], 127), dtype="int8"),
                "label": pd.Series([r[4] for r in items], dtype="int8"),
                "movie": pd.Series([_movie_of(r[0], r[1], movies) for r in items], dtype="str"),
            }
        )
    return frames


def _movie_of(review_id: str, num: int, movies: dict[tuple[str, str], list[str]]) -> str:
    """The review's IMDB title id; a review whose movie is not listed is its own group."""
    folder, sentiment, _ = review_id.split("/")
    listed = movies.get((folder, sentiment), [])
    return (listed[num] if num < len(listed) else "") or review_id


# --- validation -----------------------------------------------------------------------------


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


# --- sampling and writing -------------------------------------------------------------------


def label_counts(df: pd.DataFrame) -> dict[int, int]:
    """Number of reviews per label, by label."""
    return dict(sorted(Counter(int(v) for v in df["label"].to_numpy()).items()))


def _allocate(counts: dict[int, int], n: int) -> dict[int, int]:
    """Split ``n`` across labels in proportion to ``counts`` (largest remainder, ties by label)."""
    total = sum(counts.values())
    exact = {label: n * c / total for label, c in counts.items()}
    alloc = {label: int(v) for label, v in exact.items()}
    order = sorted(counts, key=lambda lab: (-(exact[lab] - alloc[lab]), lab))
    for label in order[: n - sum(alloc.values())]:
        alloc[label] += 1
    return alloc


def _sample(df: pd.DataFrame, n: int, seed: int, split: str) -> pd.DataFrame:
    """A seeded sample of ``n`` reviews, stratified by label, in the frame's original order."""
    if n > len(df):
        raise DataError(f"cannot sample {n:,} reviews from the {split} split: it has only {len(df):,}")
    rng = np.random.default_rng(seed)
    counts = label_counts(df)
    keep: list[np.ndarray] = []
    for label, k in _allocate(counts, n).items():
        positions = np.flatnonzero(df["label"].to_numpy() == label)
        keep.append(rng.choice(positions, size=k, replace=False))
    return df.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)


def write_parquet(df: pd.DataFrame, dest: Path) -> Path:
    """Write reviews atomically with a fixed schema (same frame -> byte-identical file)."""
    table = pa.Table.from_pandas(df[list(COLUMNS)], schema=_SCHEMA, preserve_index=False)
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return dest


def _write_json(data: dict[str, Any], dest: Path) -> None:
    atomic_write_text(dest, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _copy(src: Path, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


# --- pipeline stages ------------------------------------------------------------------------


def ingest(
    paths: Paths,
    params: Params,
    source: str | None = None,
    sha256: str | None = None,
    sample: int | None = None,
) -> dict[str, Path]:
    """Fetch and verify the archive, extract and validate the reviews, write ``interim/*.parquet``.

    ``sample=N`` keeps a seeded sample of N reviews per split, stratified by label, for fast runs.
    Nothing is written unless every split passes validation.
    """
    if sample is not None and sample < 1:
        raise DataError(f"sample must be a positive number of reviews, got {sample}")
    archive, digest = _fetch(paths, params, source, sha256)
    log.info("reading %s (sha256 %s)", archive, digest)
    frames = _read_archive(archive)

    for split, df in frames.items():
        if sample is None:
            validate(df, split, EXPECTED_LABEL_COUNTS[split])
        else:
            # The whole split must be sound before a sample of it is; then the sample has exactly N rows.
            validate(df, split)
            sampled = _sample(df, sample, params.split.seed, split)
            validate(sampled, split, _allocate(label_counts(df), sample))
            frames[split] = sampled

    outputs = {split: write_parquet(df, paths.interim / f"{split}.parquet") for split, df in frames.items()}
    manifest: dict[str, Any] = {
        "archive": archive.name,
        "archive_sha256": digest,
        "counts": {split: len(df) for split, df in frames.items()},
        "label_counts": {
            split: {str(k): v for k, v in label_counts(df).items()} for split, df in frames.items()
        },
        "sample": sample,
        "seed": params.split.seed if sample is not None else None,
    }
    _write_json(manifest, paths.interim / "manifest.json")
    log.info("wrote %s", ", ".join(f"{s}: {n:,}" for s, n in manifest["counts"].items()))
    return outputs


def split(paths: Paths, params: Params) -> dict[str, Path]:
    """Carve a validation split out of train, stratified by label and grouped by movie; copy test.

    Test reviews are about other movies than train's, so validation holds out whole movies too:
    a random split lets movie-specific n-grams (names, titles) inflate validation accuracy and
    favour weaker regularisation. ``validation_fraction`` is rounded to 1/k for k-fold grouping.
    Writes ``processed/{train,validation,test}.parquet``; the same inputs and parameters give
    byte-identical files.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    train = _read(paths.interim / "train.parquet", "train")
    test_src = paths.interim / "test.parquet"
    if not test_src.is_file():
        raise DataError(f"test split not found at {test_src}: run the ingest stage first")
    labels = set(train["label"].unique().tolist())
    if not labels <= {0, 1} or len(labels) < 2:
        raise DataError(f"train split must hold labels 0 and 1 to stratify on, found {sorted(labels)}")
    if "movie" not in train.columns:
        raise DataError("train split has no 'movie' column: rerun the ingest stage")

    folds = max(2, round(1 / params.split.validation_fraction))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=params.split.seed)
    try:
        fit_idx, val_idx = next(splitter.split(train, train["label"].to_numpy(), train["movie"].to_numpy()))
    except ValueError as exc:  # fewer movies than folds
        raise DataError(f"cannot split train into {folds} folds by movie: {exc}") from exc
    out = paths.processed
    outputs = {
        "train": write_parquet(train.iloc[np.sort(fit_idx)], out / "train.parquet"),
        "validation": write_parquet(train.iloc[np.sort(val_idx)], out / "validation.parquet"),
        "test": out / "test.parquet",
    }
    _copy(test_src, outputs["test"])
    log.info("split train into %s train and %s validation reviews", f"{len(fit_idx):,}", f"{len(val_idx):,}")
    return outputs


def _read(path: Path, name: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{name} split not found at {path}: run the ingest and split stages first")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for an unreadable file
        raise DataError(f"cannot read the {name} split at {path}: {exc}") from exc


def read_split(paths: Paths, name: str) -> pd.DataFrame:
    """Load one split: ``train``, ``validation`` or ``test`` (processed) or ``unsup`` (interim)."""
    locations: dict[str, Callable[[], Path]] = {
        "train": lambda: paths.processed / "train.parquet",
        "validation": lambda: paths.processed / "validation.parquet",
        "test": lambda: paths.processed / "test.parquet",
        "unsup": lambda: paths.interim / "unsup.parquet",
    }
    if name not in locations:
        raise DataError(f"unknown split {name!r}: choose one of {', '.join(locations)}")
    return _read(locations[name](), name)
