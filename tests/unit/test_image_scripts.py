"""The image scripts call the container engine the way each engine expects.

CI builds with docker on GitHub and with podman here, through the same make targets. A fake engine
on PATH records its arguments, so both code paths run on every machine: docker's ``--pull`` is a
yes/no flag (``--pull=never`` makes it fail), podman needs ``--pull=never`` (no registry) and
``--format docker`` (the OCI format drops HEALTHCHECK).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.model.features import FeaturizerSpec
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration  # runs bash and the deploy scripts

FAKE_ENGINE = '#!/bin/sh\nprintf "%s\\n" "$@" > "$ENGINE_ARGS"\n'


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A copy of what deploy/build-image.sh reads: itself, pyproject.toml and a build context whose
    model (a small real one: the script reads its identity with the package) is registry version 3."""
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "deploy" / "build-image.sh", root / "deploy" / "build-image.sh")
    shutil.copy2(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "build" / "wheels" / "api").mkdir(parents=True)
    (root / "build" / "wheels" / "api" / "requirements.txt").write_text("numpy==2.0.0\n")
    spec = FeaturizerSpec(ngram_max=1, hash_bits=8)
    weights = np.zeros(spec.n_features, dtype=np.float32)
    seen = np.zeros(spec.n_features // 8, dtype=np.uint8)
    card = {"version": "abc", "registry": {"version": "3"}}
    SentimentModel(spec, weights, 0.0, seen, card).save(root / "build" / "model")
    return root


def build_args(context: Path, tmp_path: Path, engine: str) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / engine
    fake.write_text(FAKE_ENGINE)
    fake.chmod(0o755)
    record = tmp_path / f"{engine}.args"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CONTAINER_ENGINE": engine,
        "ENGINE_ARGS": str(record),
        "IMAGE_SOURCE": "https://example.invalid/repo",
        "HOME": str(tmp_path),
        "PYTHON": sys.executable,  # the project's interpreter: build-image.sh reads the model with it
    }
    proc = subprocess.run(
        ["bash", str(context / "deploy" / "build-image.sh"), "api", "sentiment-api:test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return record.read_text().splitlines()


def test_docker_gets_no_podman_only_flags(context: Path, tmp_path: Path) -> None:
    args = build_args(context, tmp_path, "docker")
    assert args[0] == "build"
    assert not any(a.startswith("--pull") for a in args), args
    assert "--format" not in args
    assert args[args.index("-t") : args.index("-t") + 2] == ["-t", "sentiment-api:test"]
    assert (
        "MODEL_VERSION=3" in args and "org.opencontainers.image.source=https://example.invalid/repo" in args
    )


def test_podman_never_pulls_and_keeps_the_healthcheck(context: Path, tmp_path: Path) -> None:
    args = build_args(context, tmp_path, "podman")
    assert "--pull=never" in args
    assert args[args.index("--format") + 1] == "docker"


def test_make_passes_the_engine_and_sources_the_podman_setup_only_for_podman() -> None:
    env = {**os.environ, "MAKEFLAGS": ""}
    docker, podman = (
        subprocess.run(
            ["make", "-n", "image-smoke", f"ENGINE={engine}"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for engine in ("docker", "podman")
    )
    assert "CONTAINER_ENGINE=docker deploy/run-image-smoke.sh" in docker and "container-env.sh" not in docker
    assert "container-env.sh" in podman and "CONTAINER_ENGINE=podman deploy/run-image-smoke.sh" in podman
