"""The fast tier's guard: a test without a tier marker that reads the shared material, starts a
program other than Python, or reaches beyond loopback fails, naming what it did.

It is a :func:`sys.addaudithook` hook, so it sees what the code under test does as well as what the
test does: ``open``, ``os.listdir`` and ``os.scandir`` of a path in the shared folder; ``subprocess.Popen``
of anything but this interpreter or a Python script (a console script of the virtualenv); a socket
connection or name lookup of an address outside 127.0.0.0/8 and ::1. Each violation raises in the
offending call and is also recorded, so code that catches the error still fails the test.
"""

# os.path, not pathlib: the hook runs on every file opened and must stay cheap and plain.
# ruff: noqa: PTH100, PTH119

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Markers of the tiers allowed what the fast tier is not.
TIER_MARKERS = ("slow", "integration", "container", "shared")
LOCAL_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}
#: Base utilities every POSIX system has; the standard library starts them (``platform`` runs
#: ``uname -p``), so they are no dependency of the tests.
BASE_UTILITIES = {"uname"}


class HermeticError(RuntimeError):
    """A fast-tier test touched the shared material, an external program or the network."""


class Guard:
    """Watches audit events while :attr:`active`; :attr:`violations` lists what it refused."""

    def __init__(self, shared: Path) -> None:
        self.shared = {os.path.abspath(shared), os.path.realpath(shared)}
        self.active = False
        self.violations: list[str] = []
        self._python = os.path.realpath(sys.executable)

    def install(self) -> None:
        sys.addaudithook(self._hook)

    def _refuse(self, what: str) -> None:
        self.violations.append(what)
        raise HermeticError(f"fast-tier test {what}: mark it slow, integration or shared")

    def _in_shared(self, path: Any) -> bool:
        if isinstance(path, int) or path is None:
            return False
        try:
            text = os.fsdecode(path)
        except TypeError:
            return False
        candidates = {os.path.abspath(text), os.path.realpath(text)}
        return any(c == s or c.startswith(s + os.sep) for c in candidates for s in self.shared)

    def _is_allowed(self, program: str) -> bool:
        """This interpreter, a Python script, or a base utility of the system."""
        if os.path.basename(program) in BASE_UTILITIES:
            return True
        found = shutil.which(program) or program
        real = os.path.realpath(found)
        if real == self._python or os.path.basename(real).startswith("python"):
            return True
        try:
            with open(real, "rb") as handle:  # noqa: PTH123 (a hook must not recurse into pathlib)
                first = handle.readline(200)
        except OSError:
            return False
        return first.startswith(b"#!") and b"python" in first

    @staticmethod
    def _is_loopback(host: Any) -> bool:
        if isinstance(host, bytes):
            host = host.decode()
        if not isinstance(host, str):
            return True  # AF_UNIX paths and the like stay on this machine
        if host in LOCAL_NAMES or host == "":
            return True
        try:
            address = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False  # a name other than localhost needs a lookup beyond this machine
        return address.is_loopback or address.is_unspecified

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        self.active = False  # the checks below open files themselves
        try:
            if event in ("open", "os.listdir", "os.scandir") and args and self._in_shared(args[0]):
                self._refuse(f"read the shared material ({os.fsdecode(args[0])})")
            elif event == "subprocess.Popen":
                executable, argv = args[0], args[1]
                program = executable or (argv if isinstance(argv, (str, bytes)) else argv[0])
                program = os.fsdecode(program).split()[0] if isinstance(program, (str, bytes)) else program
                if not self._is_allowed(os.fsdecode(program)):
                    self._refuse(f"started {os.fsdecode(program)}")
            elif event == "socket.connect" and isinstance(args[1], tuple):
                if not self._is_loopback(args[1][0]):
                    self._refuse(f"connected to {args[1][0]}")
            elif event == "socket.getaddrinfo" and not self._is_loopback(args[0]):
                self._refuse(f"looked up {args[0]!r}")
        finally:
            self.active = True

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Refuse while inside; on leaving, fail if anything was refused, even if it was caught."""
        self.violations.clear()
        self.active = True
        try:
            yield
        finally:
            self.active = False
        if self.violations:
            raise HermeticError("fast-tier test " + "; ".join(dict.fromkeys(self.violations)))
