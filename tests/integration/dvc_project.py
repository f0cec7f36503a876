"""One full-data ``dvc repro`` per test session, in a git repository built like a fresh clone.

The full pipeline takes minutes, so the slow DVC tests share a single run: the first caller builds
it, the others get the same result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO_ROOT

STAGES = ("ingest", "split", "train", "evaluate")
GIT_IDENTITY = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]


@dataclass
class DvcProject:
    """A project where ``dvc repro`` ran on the full archive."""

    root: Path
    archive: Path
    stage_seconds: dict[str, float] = field(default_factory=dict)
    second_repro: str = ""

    def env(self, root: Path | None = None) -> dict[str, str]:
        """The environment a stage runs in: this copy's code, its own MLflow store, the shared archive."""
        root = root or self.root
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "MLFLOW_", "SENTIMENT_"))}
        env.update(
            {
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONPATH": str(root / "src"),  # run the copied code, whose hashes DVC tracks
                "SENTIMENT_HOME": str(root),
                "SENTIMENT_DATA_ARCHIVE": str(self.archive),
                "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            }
        )
        return env

    def run(
        self, *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the project (``dvc`` and ``sentiment`` from this virtualenv)."""
        cwd = cwd or self.root
        exe = args[0]
        if exe in ("dvc", "sentiment"):
            exe = str(Path(sys.executable).with_name(exe))
        result = subprocess.run(
            [exe, *args[1:]],
            cwd=cwd,
            env=self.env(cwd),
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode} in {cwd}:\n{result.stdout[-4000:]}\n"
                f"{result.stderr[-4000:]}"
            )
        return result

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return self.run("git", *GIT_IDENTITY, *args, cwd=cwd).stdout


_BUILT: dict[str, DvcProject] = {}


def build(base: Path, archive: Path) -> DvcProject:
    """Copy the pipeline into ``base/project`` as a git repository and ``dvc repro`` it, stage by stage."""
    if "project" in _BUILT:
        return _BUILT["project"]
    root = base / "project"
    root.mkdir(parents=True)
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(REPO_ROOT / name, root / name)
    shutil.copytree(
        REPO_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    # The folder of labelled files the train stage depends on, as a clone has it (its README only).
    (root / "data" / "labelled").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "data" / "labelled" / "README.md", root / "data" / "labelled" / "README.md")
    project = DvcProject(root, archive)
    project.run("git", "init", "-q", "-b", "main")
    project.run("dvc", "init", "-q")
    shutil.copy(REPO_ROOT / ".dvc" / "config", root / ".dvc" / "config")  # the default local remote
    project.git("add", "-A")
    project.git("commit", "-qm", "pipeline code and parameters")
    project.run("sentiment", "fetch")  # the archive, where the ingest stage depends on it

    for stage in STAGES:  # one at a time, to time each; upstream stages are already up to date
        started = time.perf_counter()
        out = project.run("dvc", "repro", stage).stdout
        project.stage_seconds[stage] = round(time.perf_counter() - started, 1)
        assert f"Running stage '{stage}'" in out, out
    project.second_repro = project.run("dvc", "repro").stdout
    project.git("add", "-A")
    project.git("commit", "-qm", "dvc.lock, metrics and plots of the full run")
    _BUILT["project"] = project
    return project
