"""The script that lays out the shared test material on CI runners that lack it (offline parts)."""

from __future__ import annotations

import hashlib
import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def fetch() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_shared", REPO_ROOT / "scripts" / "fetch_shared.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_log_lines_are_counted_per_minute_of_their_timestamp(fetch: ModuleType) -> None:
    lines = [
        b'199.72.81.55 - - [01/Jul/1995:00:00:01 -0400] "GET /history/apollo/ HTTP/1.0" 200 6245',
        b'unicomp6.unicomp.net - - [01/Jul/1995:00:00:59 -0400] "GET /shuttle/countdown/ HTTP/1.0" 200 3985',
        b'burger.letters.com - - [01/Jul/1995:00:01:00 -0400] "GET /images/logo.gif HTTP/1.0" 304 0',
        b'd104.aa.net - - [13/Jul/1995:08:59:59 -0400] "GET / HTTP/1.0" 200 7074',
        b"a line with no timestamp",
    ]
    assert fetch.requests_per_minute(lines) == Counter(
        {"1995-07-01 00:00:00": 2, "1995-07-01 00:01:00": 1, "1995-07-13 08:59:00": 1}
    )


def test_trace_has_the_shared_format(fetch: ModuleType, nasa_trace: Path, tmp_path: Path) -> None:
    dest = tmp_path / "trace.csv"
    fetch.write_trace(Counter({"1995-07-01 00:01:00": 61, "1995-07-01 00:00:00": 42}), dest)
    written = dest.read_text().splitlines()
    assert written == ["minute,count", "1995-07-01 00:00:00,42", "1995-07-01 00:01:00,61"]
    assert nasa_trace.read_text().splitlines()[:3] == written  # the shared trace's first minutes


def test_every_shared_schema_has_a_pinned_source(fetch: ModuleType, shared: Path) -> None:
    on_disk = {str(p.relative_to(shared)) for p in (shared / "schemas").rglob("*.json")}
    sources = fetch.schema_files()
    assert set(sources) == on_disk
    for url in sources.values():
        assert url.startswith("https://raw.githubusercontent.com/")
        assert any(len(part) == 40 for part in url.split("/")), f"{url} is not pinned to a commit"


def test_every_shared_schema_matches_its_pinned_checksum(fetch: ModuleType, shared: Path) -> None:
    digests = fetch.schema_sha256()
    assert set(digests) == set(fetch.schema_files())
    for relative, digest in digests.items():
        assert hashlib.sha256((shared / relative).read_bytes()).hexdigest() == digest, relative
