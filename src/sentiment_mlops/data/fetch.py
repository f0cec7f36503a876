"""Fetch and verify the IMDB archive: a local path or URL, else the official download (pooch)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pooch

from sentiment_mlops.config import Params, Paths
from sentiment_mlops.data.errors import DataError
from sentiment_mlops.files import file_sha256

log = logging.getLogger(__name__)

ARCHIVE_ENV = "SENTIMENT_DATA_ARCHIVE"
SHA256_ENV = "SENTIMENT_DATA_SHA256"


def _download(url: str, known_hash: str | None, fname: str | None, folder: Path) -> Path:
    """Download ``url`` into ``folder`` with pooch (verifies ``known_hash``; cached afterwards)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return Path(pooch.retrieve(url, known_hash=known_hash, fname=fname, path=folder, progressbar=True))
    except ValueError as exc:  # pooch's hash mismatch; it has already removed the download
        raise DataError(f"checksum mismatch for {url}: {exc}") from exc
    except Exception as exc:  # network and HTTP errors from requests, OSError
        raise DataError(f"could not download the archive from {url}: {exc}") from exc


def resolve_archive(paths: Paths, params: Params, source: str | None, sha256: str | None) -> tuple[Path, str]:
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
    return resolve_archive(paths, params, source, sha256)[0]
