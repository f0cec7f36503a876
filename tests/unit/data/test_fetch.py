"""Fetching the archive over HTTP with pooch: checksums, the cache, errors that name the URL."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sentiment_mlops.config import DataParams, Params, Paths
from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.fetch import fetch_archive
from sentiment_mlops.data.ingest import ingest
from tests.conftest import free_port
from tests.unit.data.builders import sha256

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
