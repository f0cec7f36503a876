"""Atomic file writes (a reader, or a crash, never sees half a file) and file checksums."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import sys
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


# renameat2(2) flag and "relative to the working directory" descriptor, from <linux/fs.h>/<fcntl.h>.
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``); return
    False where the system or the file system does not offer it."""
    if sys.platform != "linux":
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # a C library older than glibc 2.28
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(staging: Path, target: Path) -> None:
    """Move the finished folder ``staging`` to ``target``, replacing a folder already there.

    Readers see the old folder or the new one, never none: the two are exchanged in one rename
    (a plain rename cannot replace a non-empty folder), then the old one is deleted. Several
    writers may replace one target at once; the last one wins. Where no exchange exists, the old
    folder steps aside under a name of its own, which leaves a moment with no ``target``.
    """
    staging, target = Path(staging), Path(target)
    if not target.exists():
        try:
            staging.rename(target)
            return
        except OSError as exc:  # another writer created it meanwhile: exchange with theirs
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    if _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # staging now holds the previous folder
        return
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    target.rename(old)
    staging.rename(target)
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
