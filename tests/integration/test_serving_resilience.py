"""Failures a production server lives through, under load: a worker killed with SIGKILL, and a
model reload (SIGHUP to the gunicorn master) while clients keep sending requests."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from sentiment_mlops.model.artifact import SentimentModel
from tests.integration.serving_server import ApiServer

pytestmark = pytest.mark.integration

REVIEW = {"texts": ["A wonderful film, I loved it.", "Boring and awful, a waste of time."]}


class Load:
    """Client threads that POST /v1/predict in a loop (no retries) and tally what they got."""

    def __init__(self, url: str, threads: int = 6) -> None:
        self.url = url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.versions: list[str] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                r = requests.post(f"{self.url}/v1/predict", json=REVIEW, timeout=10)
                outcome = str(r.status_code)
                version = r.json()["model"]["version"] if r.status_code == 200 else None
            except requests.RequestException as exc:
                outcome, version = type(exc).__name__, None
            with self.lock:
                self.outcomes[outcome] += 1
                if version is not None:
                    self.versions.append(version)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return self.total - self.outcomes["200"]


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_worker_killed_under_load_is_replaced(small_model_dir: Path, tmp_path: Path) -> None:
    with ApiServer(small_model_dir, tmp_path, workers=2) as server:
        with Load(server.url) as load:
            time.sleep(2)
            before = server.worker_pids()
            victim = min(before)
            os.kill(victim, signal.SIGKILL)
            assert _wait_for(
                lambda: len(server.worker_pids() - before) == 1 and len(server.worker_pids()) == 2, 15
            )
            time.sleep(2)
        assert victim not in server.worker_pids()
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
    assert load.total > 300, load.outcomes
    assert load.failed / load.total < 0.01, load.outcomes


def _model_with_version(src: Path, dest: Path, version: str) -> None:
    model = SentimentModel.load(src)
    model.card["version"] = version
    model.save(dest)


def test_sighup_reloads_a_new_model_without_failed_requests(small_model_dir: Path, tmp_path: Path) -> None:
    _model_with_version(small_model_dir, tmp_path / "model-a", "reload-a")
    _model_with_version(small_model_dir, tmp_path / "model-b", "reload-b")
    live = tmp_path / "current"
    live.symlink_to(tmp_path / "model-a")
    with ApiServer(live, tmp_path / "run", workers=2) as server:
        version = lambda: requests.get(f"{server.url}/version", timeout=5).json()["model"]["version"]  # noqa: E731
        assert version() == "reload-a"
        with Load(server.url) as load:
            time.sleep(1.5)
            # publish the new model atomically: a reader sees the old directory or the new one
            tmp_link = tmp_path / "current.new"
            tmp_link.symlink_to(tmp_path / "model-b")
            tmp_link.replace(live)
            server.signal(signal.SIGHUP)
            assert _wait_for(lambda: version() == "reload-b", 30), server.log()[-3000:]
            time.sleep(1.5)
        metrics = requests.get(f"{server.url}/metrics", timeout=5).text
        assert 'model_reload_total{outcome="success"} 1.0' in metrics
        assert 'version="reload-b"} 1.0' in metrics and 'version="reload-a"} 0.0' in metrics
    assert load.failed == 0, load.outcomes
    assert load.total > 100
    assert load.versions[0] == "reload-a" and load.versions[-1] == "reload-b"
    assert set(load.versions) == {"reload-a", "reload-b"}
