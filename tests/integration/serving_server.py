"""Start the API as a user does (``serve`` -> gunicorn) on a free loopback port, and stop it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil

from sentiment_mlops.processes import Supervised, free_port

# ``sentiment serve`` is this function registered on the CLI; running it through typer here
# exercises the same option parsing and the same exec into gunicorn.
_SERVE = "import typer; from sentiment_mlops.serving.commands import serve; typer.run(serve)"


class ApiServer(Supervised):
    """A real gunicorn master (the process itself, after exec) and its workers; ready once /readyz
    answers and every worker runs."""

    def __init__(self, model_uri: Path | str, workdir: Path, workers: int = 2, **env: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.metrics_dir = workdir / "prometheus"
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        argv = [sys.executable, "-c", _SERVE, "--model-uri", str(model_uri)]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            "api",
            argv,
            workdir / f"server-{self.port}.log",
            url=url,
            ready_url=f"{url}/readyz",
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir), **env},
            ready_timeout=60.0,
        )

    def is_ready(self) -> bool:
        return super().is_ready() and len(self.worker_pids()) == self.workers

    def start(self) -> None:
        """Spawn and wait until ready (tests that signal the server start it by hand)."""
        super().start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def worker_pids(self) -> set[int]:
        try:
            return {c.pid for c in psutil.Process(self.pid).children() if c.status() != psutil.STATUS_ZOMBIE}
        except psutil.NoSuchProcess:
            return set()
