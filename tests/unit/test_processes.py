"""The one process supervisor: ready when its URL answers, errors name the process and its log,
and stopping ends the whole process group."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import psutil
import pytest

from sentiment_mlops.processes import ProcessError, Supervised, free_port, port_in_use


def _ends(pid: int, within: float = 10.0) -> bool:
    """The process exits (or is a zombie: dead, not yet collected) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _http_server(tmp_path: Path) -> Supervised:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "-d", str(tmp_path)]
    url = f"http://127.0.0.1:{port}"
    return Supervised("files", argv, tmp_path / "logs" / "files.log", url=url, ready_url=f"{url}/")


def test_ready_when_it_answers_and_stopped_afterwards(tmp_path: Path) -> None:
    server = _http_server(tmp_path)
    with server:
        assert server.start_to_ready_s > 0
        assert port_in_use("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
        pid = server.pid
    assert server.exit_code() is not None
    assert _ends(pid)


def test_early_exit_names_the_process_and_shows_its_log(tmp_path: Path) -> None:
    crash = [sys.executable, "-c", "import sys; print('cannot read the config'); sys.exit(3)"]
    process = Supervised("broken", crash, tmp_path / "broken.log", ready_url="http://127.0.0.1:9/")
    with pytest.raises(ProcessError, match=r"broken exited early with code 3(.|\n)*cannot read the config"):
        process.__enter__()


def test_not_ready_in_time_is_an_error_and_the_process_is_stopped(tmp_path: Path) -> None:
    silent = [sys.executable, "-c", "import time; time.sleep(60)"]
    port = free_port()  # nothing will listen there
    process = Supervised("silent", silent, tmp_path / "s.log", ready_url=f"http://127.0.0.1:{port}/")
    process.ready_timeout = 1.0
    with pytest.raises(ProcessError, match="silent not ready after 1 s"):
        process.__enter__()
    assert process.exit_code() is not None


def test_stop_ends_children_that_ignore_sigterm(tmp_path: Path) -> None:
    """A forked worker that ignores SIGTERM is killed with its group once the timeout passes."""
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {stubborn!r}])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    process = Supervised("parent", [sys.executable, "-c", script], tmp_path / "p.log")
    process.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not re.search(r"child (\d+)", process.log()):
        time.sleep(0.05)
    found = re.search(r"child (\d+)", process.log())
    assert found, process.log()
    child = int(found[1])
    process.stop(timeout=1.0)
    assert process.exit_code() is not None
    assert _ends(child), "the worker outlived the stop"
