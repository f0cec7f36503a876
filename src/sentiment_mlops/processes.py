"""Supervise a local process: start it in its own session with a log file, wait until it answers,
stop it and everything it forked. The local stack, the integration tests and the benchmarks all run
their servers (gunicorn, Prometheus, MLflow) through :class:`Supervised`.

A process runs in a session (and process group) of its own, so a Ctrl-C in the terminal reaches
only the parent, and a signal to the group also reaches the workers a server forked. Stopping sends
SIGTERM to the group, waits a bounded time, then SIGKILLs whatever is left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from signal import SIGKILL, SIGTERM, Signals
from typing import Any, Self

log = logging.getLogger(__name__)

STOP_TIMEOUT = 20.0  # seconds a process gets after SIGTERM before SIGKILL
LOG_TAIL_LINES = 20


class ProcessError(RuntimeError):
    """A supervised process exited early or did not become ready in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails (something listens there already)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class Supervised:
    """One process: how to start it, where it answers (``ready_url`` gives 200 when ready), its log."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        url: str = "",
        ready_url: str | None = None,
        env: dict[str, str] | None = None,
        ready_timeout: float = 120.0,
    ) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        self.url = url
        self.ready_url = ready_url
        self.env = dict(os.environ) if env is None else env
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_to_ready_s = float("nan")
        self._started = 0.0

    def start(self) -> None:
        """Spawn the process in a session of its own, appending its output to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self._started = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.debug("started %s (pid %d): %s", self.name, self.proc.pid, " ".join(self.argv))

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ProcessError(f"{self.name} was not started")
        return self.proc.pid

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def is_ready(self) -> bool:
        """``ready_url`` answers 200 (a process without one is ready once it runs)."""
        if self.ready_url is None:
            return self.exit_code() is None
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def died(self) -> ProcessError:
        code, where = self.exit_code(), self.log_path
        return ProcessError(f"{self.name} exited early with code {code} (log: {where}):\n{self.log_tail()}")

    def wait_ready(
        self, timeout: float | None = None, also: Callable[[], bool] | None = None, poll: float = 0.1
    ) -> float:
        """Until :meth:`is_ready` (and ``also``, if given) hold; the seconds from start to ready.

        Raises :class:`ProcessError` with the end of the log if the process exits or times out.
        """
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_code() is not None:
                raise self.died()
            if self.is_ready() and (also is None or also()):
                self.start_to_ready_s = time.perf_counter() - self._started
                return self.start_to_ready_s
            time.sleep(poll)
        raise ProcessError(
            f"{self.name} not ready after {timeout:.0f} s (log: {self.log_path}):\n{self.log_tail()}"
        )

    def signal(self, sig: Signals) -> None:
        """Send ``sig`` to the process itself (e.g. SIGHUP to a gunicorn master)."""
        os.kill(self.pid, sig)

    def signal_group(self, sig: Signals) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM to the group, SIGKILL to what is left after ``timeout``; the process's exit code."""
        stop_all([self], timeout)
        return None if self.proc is None else self.proc.returncode

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def stop_all(processes: Iterable[Supervised], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every process group, wait up to ``timeout`` in all, then SIGKILL what is left."""
    running = [p for p in processes if p.proc is not None]
    for process in running:
        if process.exit_code() is None:
            process.signal_group(SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        assert process.proc is not None
        try:
            process.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s: killing it", process.name, timeout)
        # Also after a clean exit: a worker the process left behind in its group must not outlive it.
        process.signal_group(SIGKILL)
        process.proc.wait()
