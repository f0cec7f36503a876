"""``files.replace_dir``: a reader always finds a whole folder at the target, and two writers
replacing one target at once (two exporters, two `sentiment train` runs) both succeed."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from sentiment_mlops.files import replace_dir


def _folder(parent: Path, name: str, content: str) -> Path:
    folder = parent / name
    folder.mkdir()
    (folder / "card.json").write_text(content, encoding="utf-8")
    (folder / "weights.npz").write_text(content, encoding="utf-8")
    return folder


def _whole(target: Path) -> str | None:
    """The content of the folder at ``target`` if both files are there and agree, else None."""
    try:
        card = (target / "card.json").read_text(encoding="utf-8")
        weights = (target / "weights.npz").read_text(encoding="utf-8")
    except OSError:
        return None
    return card if card == weights else None


class _FilesystemSteps:
    """Runs a check before every rename or foreign call a block makes (Python audit events), so
    the state between any two of its file-system steps is seen."""

    EVENTS = frozenset({"os.rename", "os.replace", "ctypes.call_function", "shutil.rmtree", "os.rmdir"})

    def __init__(self) -> None:
        self.check: object = None
        self.seen: list[str | None] = []
        self._busy = False
        sys.addaudithook(self._hook)  # cannot be removed: it is inert while ``check`` is None

    def _hook(self, event: str, _args: tuple) -> None:
        if self.check is None or self._busy or event not in self.EVENTS:
            return
        self._busy = True
        try:
            self.seen.append(self.check())  # type: ignore[operator]
        finally:
            self._busy = False


STEPS = _FilesystemSteps()


def test_a_reader_finds_the_old_or_the_new_folder_between_every_step(tmp_path: Path) -> None:
    # The previous version renamed the target aside, then the new folder in: between the two
    # renames there was no target, and a loading service failed with "card.json is missing".
    target = _folder(tmp_path, "export", "old")
    staging = _folder(tmp_path, ".export.staging", "new")
    STEPS.check, STEPS.seen = (lambda: _whole(target)), []
    try:
        replace_dir(staging, target)
    finally:
        STEPS.check = None
    assert STEPS.seen, "replace_dir made no file-system step that was observed"
    assert set(STEPS.seen) <= {"old", "new"}, STEPS.seen
    assert _whole(target) == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # the old folder is gone


def test_a_new_target_is_created(tmp_path: Path) -> None:
    replace_dir(_folder(tmp_path, ".staging", "first"), tmp_path / "export")
    assert _whole(tmp_path / "export") == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


@pytest.mark.parametrize("writers", [2, 4])
def test_concurrent_writers_all_succeed_and_the_target_stays_whole(tmp_path: Path, writers: int) -> None:
    # The previous version moved every old folder to the one name ".export.old": two writers
    # deleted each other's old folder or found it in their way (OSError: Directory not empty).
    target = tmp_path / "export"
    errors: list[BaseException] = []
    gaps = 0
    done = threading.Event()

    def write(w: int) -> None:
        try:
            for i in range(60):
                replace_dir(_folder(tmp_path, f".staging-{w}-{i}", f"{w}-{i}"), target)
        except BaseException as exc:
            errors.append(exc)

    def watch() -> None:
        nonlocal gaps
        while not done.is_set():
            gaps += not target.is_dir()  # one stat: the target path names a folder, always

    _folder(tmp_path, "export", "initial")
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert errors == []
    assert gaps == 0, f"the target was missing {gaps} times"
    assert _whole(target) in {f"{w}-59" for w in range(writers)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
