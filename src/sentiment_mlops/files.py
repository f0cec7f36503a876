"""Atomic file writes (a reader, or a crash, never sees half a file) and file checksums."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(dest: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success rename it to ``dest``, else delete it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Same folder, so the rename is atomic; created with the usual umask permissions (mkstemp's
    # are 0600, which would make a model unreadable to the container's non-root user).
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        tmp.replace(dest)  # readers see the old file or the new one, never half of one
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(dest: Path | str, content: str) -> Path:
    """Write ``content`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_text(content, encoding="utf-8")
    return Path(dest)


def replace_dir(staging: Path, target: Path) -> None:
    """Move the finished folder ``staging`` to ``target``; an existing ``target`` is swapped out, then
    removed, so readers see the old folder or the new one (a rename cannot replace a non-empty one)."""
    if not target.exists():
        staging.replace(target)
        return
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    target.replace(old)
    staging.replace(target)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_json(dest: Path | str, payload: Any) -> Path:
    """Write ``payload`` as indented JSON to ``dest`` atomically."""
    return atomic_write_text(dest, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def file_sha256(*paths: Path) -> str:
    """Hex sha256 of the files' contents, one after another, read in chunks."""
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
