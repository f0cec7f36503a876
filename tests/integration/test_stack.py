"""``sentiment stack`` as a user runs it: three real processes come up, Prometheus scrapes the API
with the rules loaded, Ctrl-C stops everything, and a process that dies takes the stack down loudly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests

from tests.conftest import free_port

pytestmark = pytest.mark.integration

# ``sentiment stack`` is this function registered on the CLI; typer.run gives the same option parsing.
_STACK = "import typer; from sentiment_mlops.workspace.stack import stack; typer.run(stack)"
READY_TIMEOUT = 180.0


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    api: str
    prometheus: str
    mlflow: str
    run_dir: Path
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # read stdout as it comes, so the test can wait for the stack's own "ready:" line
        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)

        self.reader = threading.Thread(target=pump, daemon=True)
        self.reader.start()

    def urls(self) -> dict[str, str]:
        return {
            "api": f"{self.api}/readyz",
            "prometheus": f"{self.prometheus}/-/ready",
            "mlflow": f"{self.mlflow}/health",
        }

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        pending = self.urls()
        while pending and time.monotonic() < deadline:
            assert self.proc.poll() is None, (
                f"stack exited with {self.proc.returncode}: {self.errors()}\n{self.logs()}"
            )
            for name, url in list(pending.items()):
                try:
                    if requests.get(url, timeout=2).status_code == 200:
                        del pending[name]
                except (requests.ConnectionError, requests.Timeout):
                    pass  # not listening yet, or too busy starting to answer in time: ask again
            time.sleep(0.5)
        assert not pending, f"not ready after {READY_TIMEOUT} s: {sorted(pending)}"
        while "ready:\n" not in self.lines and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "ready:\n" in self.lines, f"the stack did not report ready: {self.lines}"

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def output(self) -> str:
        """Everything the stack printed (call once it has exited)."""
        self.reader.join(timeout=10)
        return "".join(self.lines)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
            for p in sorted(self.run_dir.glob("logs/*.log"))
        )

    def errors(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


def _start(model_dir: Path, tmp_path: Path) -> Stack:
    ports = {"api": free_port(), "prometheus": free_port(), "mlflow": free_port()}
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        # the stack's MLflow UI shows this store, not the project's
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_ROOT": str(tmp_path / "mlartifacts"),
    }
    argv = [sys.executable, "-c", _STACK, "--model-uri", str(model_dir), "--run-dir", str(run_dir)]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Stack(
        proc,
        f"http://127.0.0.1:{ports['api']}",
        f"http://127.0.0.1:{ports['prometheus']}",
        f"http://127.0.0.1:{ports['mlflow']}",
        run_dir,
    )


@pytest.fixture
def stack(small_model_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    running = _start(small_model_dir, tmp_path)
    try:
        yield running
    finally:
        # whatever a failed assertion left behind
        if running.proc.poll() is None:
            leftovers = running.descendants()
            running.proc.kill()
            running.proc.wait()
            for p in leftovers:
                p.kill()


def _running(p: psutil.Process) -> bool:
    """Still running: a zombie has exited (only its parent has not collected it yet)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _gone(processes: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    """Those of ``processes`` still running after ``timeout``."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if _running(p)]


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.NoSuchProcess:  # a short-lived helper that has just exited
        return ""


def _query(prometheus: str, promql: str) -> list[dict[str, object]]:
    body = requests.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_stack_starts_three_processes_and_ctrl_c_stops_them_all(stack: Stack) -> None:
    stack.wait_ready()
    children = stack.descendants()
    names = " ".join(_cmdline(p) for p in children)
    assert "gunicorn" in names and "prometheus" in names and "mlflow" in names, names
    # 2 gunicorn workers + their master, prometheus, mlflow and its worker(s)
    assert len(children) >= 5, names

    # Prometheus scrapes the API with the project's rules loaded
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _query(stack.prometheus, 'up{job="sentiment-api"} == 1'):
        time.sleep(1)
    assert _query(stack.prometheus, 'up{job="sentiment-api"} == 1'), "the API is not scraped"
    rules = requests.get(f"{stack.prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert {g["name"] for g in rules} >= {"sentiment-api.requests", "sentiment-api.alerts"}
    assert all(r["health"] != "err" for g in rules for r in g["rules"])
    assert requests.post(f"{stack.api}/v1/predict", json={"text": "A great film."}, timeout=10).ok

    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(timeout=60) == 0, f"{stack.errors()}\n{stack.logs()}"
    out = stack.output()
    assert not _gone(children), f"left running: {_gone(children)}"
    # the URLs are printed once all three answer
    ready = out.split("ready:\n", 1)[1].splitlines()[:3]
    assert [line.split() for line in ready] == [
        ["api", stack.api],
        ["prometheus", stack.prometheus],
        ["mlflow", stack.mlflow],
    ], out
    for url in (stack.api, stack.prometheus, stack.mlflow):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)
    assert "stopped" in out
    assert (stack.run_dir / "prometheus.yml").is_file() and (stack.run_dir / "prometheus").is_dir()


def test_a_process_that_dies_stops_the_others_and_is_named(stack: Stack) -> None:
    stack.wait_ready()
    children = stack.descendants()
    prometheus = next(p for p in children if "prometheus --config.file" in _cmdline(p))
    prometheus.kill()

    assert stack.proc.wait(timeout=60) == 1
    err = stack.errors()
    assert "prometheus exited early" in err
    assert not _gone(children), f"left running: {_gone(children)}"


def test_bad_input_is_refused_before_anything_starts(small_model_dir: Path, tmp_path: Path) -> None:
    run = [sys.executable, "-c", _STACK, "--run-dir", str(tmp_path / "run")]
    run += ["--api-port", str(free_port()), "--mlflow-port", str(free_port())]
    argv = [*run, "--model-uri", str(tmp_path)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "is not a model directory" in result.stderr

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = [*run, "--model-uri", str(small_model_dir), "--prometheus-port", str(port)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use: pass --prometheus-port" in result.stderr
    assert not (tmp_path / "run").exists()
