"""The production loop's scratch project (its own params, data, models and MLflow store, the real
CLI run inside it) and the ``sentiment serve`` it runs, logging predictions."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from sentiment_mlops.processes import free_port
from sentiment_mlops.workspace.replay import LoopData, wait_for

log = logging.getLogger(__name__)

SENTIMENT = str(Path(sys.executable).with_name("sentiment"))
# The loop's scratch project trains small models in seconds; the gate's floor fits them.
PARAM_OVERRIDES: dict[str, dict[str, Any]] = {
    "features": {"hash_bits": 20},
    "train": {"C": [1.0], "beta": [0.5, 1.0], "nb_alpha": [1.0]},
    # Small models are not held to the full model's short-slice bounds (min_short_accuracy, ...).
    "registry": {
        "min_accuracy": 0.8,
        "max_production_regression": 0.0,
        "min_short_accuracy": None,
        "max_positive_share_drift": None,
    },
    "sources": {
        "labelled": [
            {"name": "feedback", "path": "data/labelled/feedback.parquet", "weight": 2.0, "optional": True}
        ]
    },
    "feedback": {"holdout_fraction": 0.3, "min_holdout": 200},
}


class Project:
    """The scratch project: params, data, models and MLflow store in one folder; CLI run inside."""

    def __init__(self, root: Path, repo_params: Path) -> None:
        self.root = root
        params = yaml.safe_load(repo_params.read_text(encoding="utf-8"))
        for section, values in PARAM_OVERRIDES.items():
            params.setdefault(section, {}).update(values)
        root.mkdir(parents=True, exist_ok=True)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SENTIMENT_"))}
        self.env["SENTIMENT_HOME"] = str(root)

    def cli(self, *args: str) -> str:
        started = time.monotonic()
        proc = subprocess.run(
            [SENTIMENT, *args], cwd=self.root, env=self.env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"sentiment {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        log.info(
            "sentiment %s (%.1f s): %s",
            " ".join(args),
            time.monotonic() - started,
            proc.stdout.strip()[-300:],
        )
        return proc.stdout

    def write_data(self, data: LoopData) -> None:
        from sentiment_mlops.data.schema import write_parquet

        interim = self.root / "data" / "interim"
        for name in ("train", "test", "unsup"):
            write_parquet(getattr(data, name), interim / f"{name}.parquet")


class Server:
    """``sentiment serve`` (gunicorn, 2 workers) on a free port, logging predictions."""

    def __init__(self, project: Project) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = project.root / "prediction-log"
        self.env = {
            **project.env,
            "PROMETHEUS_MULTIPROC_DIR": str(project.root / "metrics"),
            "SENTIMENT_PREDICTION_LOG": str(self.log_dir),
            "SENTIMENT_PREDICTION_LOG_FLUSH_SECONDS": "1",
        }
        self.argv = [
            SENTIMENT,
            "serve",
            "--model-uri",
            str(project.root / "models" / "export"),
            "--port",
            str(self.port),
        ]
        self.log_path = project.root / "server.log"
        self.cwd = project.root
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        (self.cwd / "metrics").mkdir(exist_ok=True)
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for(lambda: requests.get(f"{self.url}/readyz", timeout=2).status_code == 200, 120, "API ready")
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)  # graceful: workers drain their prediction logs
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def version(self) -> str:
        return str(requests.get(f"{self.url}/version", timeout=5).json()["model"]["version"])

    def metric(self, name: str) -> float:
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))
