"""Read the IMDB archive: every review of every split in one streamed pass, without extracting it.

The layout is ``aclImdb/{train,test}/{pos,neg}/<id>_<stars>.txt`` and ``aclImdb/train/unsup/<id>_0.txt``;
``urls_<sentiment>.txt`` beside each folder names the movie (IMDB title id) of each review.
"""

from __future__ import annotations

import gzip
import re
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.schema import INTERIM_SPLITS

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


def read_archive(path: Path) -> dict[str, pd.DataFrame]:
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
