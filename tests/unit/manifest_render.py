"""Rendering the deployment for the manifest tests: ``kubectl kustomize`` on an overlay, throw-away
overlays with components, and a scratch copy of ``deploy/`` to break on purpose.

The checks the rendered objects must pass are in :mod:`tests.unit.manifest_checks`.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("local", "eks")
COMPONENTS = sorted(p.parent.name for p in (K8S / "components").glob("*/kustomization.yaml"))
# Components that patch another component's objects, which must be listed before them.
REQUIRES = {"canary": ["istio"]}
# Images a component leaves for the release to pin (deploy/render-overlay.sh), pinned here as CD does.
COMPONENT_IMAGES = {
    "shadow": [
        {
            "name": "sentiment-api-challenger",
            "newName": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/sentiment-api",
            "digest": "sha256:" + "cd" * 32,
        }
    ]
}
CLUSTER_CONFIG = DEPLOY / "eks" / "cluster.yaml"

Obj = dict[str, Any]


@functools.cache
def kubectl() -> str:
    # The locked kubectl wheel in this virtualenv (`make setup`), else one on PATH.
    local = Path(sys.executable).parent / "kubectl"
    path = str(local) if local.is_file() else shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl not found on PATH: the manifest tests render overlays with `kubectl kustomize` "
            "(kubectl >= 1.27, kustomize v5): run `make setup`, which installs it from uv.lock."
        )
    return path


def render(directory: Path) -> list[Obj]:
    """Objects produced by ``kubectl kustomize DIRECTORY``; a kustomize error fails with its message."""
    proc = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=120
    )
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def write_overlay(directory: Path, parent: Path, components: list[Path], extra: Obj | None = None) -> Path:
    """A throw-away kustomization on top of PARENT adding COMPONENTS (relative paths, as kustomize wants)."""
    directory.mkdir(parents=True, exist_ok=True)
    rel = functools.partial(_relpath, start=directory)
    kustomization: Obj = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [rel(parent)],
        "components": [rel(c) for c in components],
        **(extra or {}),
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return directory


def component_order(names: list[str]) -> list[str]:
    """NAMES with the components they require, each after what it requires."""
    ordered: list[str] = []
    for name in names:
        for needed in [*REQUIRES.get(name, []), name]:
            if needed not in ordered:
                ordered.append(needed)
    return ordered


def component_images(names: list[str]) -> Obj:
    """The ``images:`` a kustomization adding the components NAMES needs (empty when none)."""
    images = [image for name in names for image in COMPONENT_IMAGES.get(name, [])]
    return {"images": images} if images else {}


def _relpath(path: Path, start: Path) -> str:
    # kustomize refuses absolute paths to other kustomizations.
    return os.path.relpath(path.resolve(), start.resolve())


def _one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} should occur once in {path}"
    path.write_text(text.replace(old, new))
