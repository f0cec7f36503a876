"""podman for the container tests: the environment ../shared prepares, and image builds from this tree."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@dataclass(frozen=True)
class Podman:
    """podman with the environment ../shared/tools/container-env.sh prepares."""

    env: dict[str, str]
    runtime_flags: list[str]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", *self.runtime_flags, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    @classmethod
    def prepared(cls, shared: Path) -> Podman:
        env = container_env(shared)
        return cls(env, shlex.split(env.get("CONTAINER_RUNTIME_FLAGS", "")))

    def build(self, target: str, tag: str, env: dict[str, str], *, timeout: float) -> str:
        """Build the context, then the image ``target`` as ``tag``, the way CD does (deploy/)."""
        env = {**self.env, "PYTHON": str(REPO_ROOT / ".venv/bin/python"), **env}
        for cmd in (["deploy/build-context.sh", target], ["deploy/build-image.sh", target, tag]):
            out = subprocess.run(
                cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False, timeout=timeout
            )
            assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
        return tag


def container_env(shared: Path) -> dict[str, str]:
    """The environment after sourcing container-env.sh (installs podman and the base image if missing)."""
    script = shared / "tools" / "container-env.sh"
    out = subprocess.run(
        ["bash", "-c", f"source {shlex.quote(str(script))} >&2 && env -0"],
        capture_output=True,
        check=False,
        timeout=900,
    )
    if out.returncode != 0:
        pytest.fail(f"{script} failed:\n{out.stderr.decode(errors='replace')}")
    pairs = (item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)
