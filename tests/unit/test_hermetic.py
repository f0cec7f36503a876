"""The fast tier's guard refuses the shared material, external programs and the network."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.hermetic import Guard, HermeticError


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    (tmp_path / "shared").mkdir()
    return Guard(tmp_path / "shared")


@pytest.mark.parametrize(
    ("event", "args", "named"),
    [
        ("open", ("{shared}/data/imdb/aclImdb_v1.tar.gz", "rb", 0), "read the shared material"),
        ("os.scandir", ("{shared}/schemas",), "read the shared material"),
        ("subprocess.Popen", ("kubectl", ["kubectl", "kustomize", "."], None, None), "started kubectl"),
        ("subprocess.Popen", (None, ["promtool", "check", "rules"], None, None), "started promtool"),
        ("subprocess.Popen", (None, "/bin/sh -c true", None, None), "started /bin/sh"),
        ("socket.connect", (None, ("93.184.216.34", 443)), "connected to 93.184.216.34"),
        ("socket.getaddrinfo", ("pypi.org", 443, 0, 1, 6), "looked up 'pypi.org'"),
    ],
)
def test_guard_refuses_and_names_it(
    guard: Guard, tmp_path: Path, event: str, args: tuple, named: str
) -> None:
    args = tuple(a.format(shared=tmp_path / "shared") if isinstance(a, str) and "{" in a else a for a in args)
    guard.active = True
    with pytest.raises(HermeticError, match=named):
        guard._hook(event, args)
    assert guard.violations


@pytest.mark.parametrize(
    ("event", "args"),
    [
        ("open", ("{tmp}/elsewhere.txt", "r", 0)),
        ("subprocess.Popen", (sys.executable, [sys.executable, "-c", "pass"], None, None)),
        ("subprocess.Popen", (None, ["uname", "-p"], None, None)),
        ("socket.connect", (None, ("127.0.0.1", 8000))),
        ("socket.connect", (None, ("::1", 8000, 0, 0))),
        ("socket.getaddrinfo", ("localhost", 8000, 0, 1, 6)),
    ],
)
def test_guard_allows_loopback_python_and_other_files(
    guard: Guard, tmp_path: Path, event: str, args: tuple
) -> None:
    args = tuple(a.format(tmp=tmp_path) if isinstance(a, str) and "{" in a else a for a in args)
    guard.active = True
    guard._hook(event, args)
    assert guard.violations == []


def test_a_caught_violation_still_fails(guard: Guard, tmp_path: Path) -> None:
    # the inner suppress stands for code under test that swallows every error
    with (
        pytest.raises(HermeticError, match="started hadolint"),
        guard.watching(),
        contextlib.suppress(HermeticError),
    ):
        guard._hook("subprocess.Popen", ("hadolint", ["hadolint", "Dockerfile"], None, None))


def test_an_unmarked_test_that_reads_shared_fails_and_a_marked_one_runs(tmp_path: Path) -> None:
    """End to end: pytest with this project's conftest, on two tests that open a shared file."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "file.txt").write_text("shared material")
    (tmp_path / "test_tiers.py").write_text(
        textwrap.dedent(
            f"""
            import pytest
            from pathlib import Path

            def test_unmarked():
                Path({str(shared)!r}, "file.txt").read_text()

            @pytest.mark.shared
            def test_marked():
                assert Path({str(shared)!r}, "file.txt").read_text() == "shared material"
            """
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        env={"SENTIMENT_SHARED_DIR": str(shared), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "fast-tier test read the shared material" in proc.stdout
