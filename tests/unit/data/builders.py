"""Tiny archives with the IMDB layout for the data tests: a few reviews per folder, and broken variants."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sentiment_mlops.config import Paths
from tests.fixtures.corpus import write_imdb_archive

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
    return write_imdb_archive(path, members)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outputs_left(paths: Paths) -> list[str]:
    """Every file ingest or split may have written (outputs, manifests and temporary files)."""
    return sorted(
        str(p.relative_to(paths.root))
        for folder in (paths.interim, paths.processed)
        if folder.exists()
        for p in folder.iterdir()
    )
