"""The workspace's readiness poll: a server that is not answering yet is waited for, not fatal."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from sentiment_mlops.workspace.replay import wait_for


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback socket that accepts connections (into its backlog) and never answers,
    as gunicorn's master does while its workers are still booting."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_a_read_timeout_means_not_yet(silent_port: int) -> None:
    calls = {"n": 0}

    def ready() -> bool:
        calls["n"] += 1
        if calls["n"] < 3:
            requests.get(f"http://127.0.0.1:{silent_port}/readyz", timeout=0.1)
        return True

    assert wait_for(ready, 10, "ready") >= 0
    assert calls["n"] == 3


def test_a_refused_connection_means_not_yet() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])  # bound, never listening: connections are refused
        calls = {"n": 0}

        def ready() -> bool:
            calls["n"] += 1
            if calls["n"] < 2:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return True

        wait_for(ready, 10, "ready")
    assert calls["n"] == 2


def test_a_server_that_never_answers_times_out_with_its_name(silent_port: int) -> None:
    def ready() -> bool:
        return requests.get(f"http://127.0.0.1:{silent_port}/readyz", timeout=0.1).status_code == 200

    with pytest.raises(TimeoutError, match="not API ready after 1 s"):
        wait_for(ready, 1, "API ready")


def test_other_errors_are_not_swallowed() -> None:
    def broken() -> bool:
        raise ValueError("a bug in the condition")

    with pytest.raises(ValueError, match="a bug"):
        wait_for(broken, 10, "ready")
