"""The shadow stage's pod as the release renders it: deploy/render-overlay.sh with SHADOW_IMAGE set.

The container test and tests/unit/test_shadow_component.py read the init container, the API
container and their volumes from here, so they check and run what CD would apply, not a copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT

RENDER = REPO_ROOT / "deploy" / "render-overlay.sh"
REPOSITORY = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/sentiment-api"
CHAMPION_REF = f"{REPOSITORY}@sha256:{'a1' * 32}"
CHALLENGER_REF = f"{REPOSITORY}@sha256:{'b2' * 32}"
INIT_NAME = "shadow-model"

Obj = dict[str, Any]


def render_release(
    image: str = CHAMPION_REF, shadow: str | None = CHALLENGER_REF, overlay: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``deploy/render-overlay.sh IMAGE [OVERLAY]`` with ``SHADOW_IMAGE`` (unset when ``None``)."""
    kubectl = Path(sys.executable).parent / "kubectl"
    env = {k: v for k, v in os.environ.items() if k != "SHADOW_IMAGE"}
    env["KUBECTL"] = str(kubectl)
    if shadow is not None:
        env["SHADOW_IMAGE"] = shadow
    args = [str(RENDER), image, *([str(overlay)] if overlay else [])]
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False, timeout=120)


def rendered_objects(image: str = CHAMPION_REF, shadow: str | None = CHALLENGER_REF) -> list[Obj]:
    out = render_release(image, shadow)
    assert out.returncode == 0, f"render-overlay.sh failed:\n{out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def api_workload(objects: list[Obj]) -> Obj:
    (workload,) = [
        o
        for o in objects
        if o["kind"] in {"Deployment", "Rollout"} and o["metadata"]["name"] == "sentiment-api"
    ]
    return workload


def pod_spec(objects: list[Obj]) -> Obj:
    return dict(api_workload(objects)["spec"]["template"]["spec"])


def container(pod: Obj, name: str, field: str = "containers") -> Obj:
    (found,) = [c for c in pod.get(field, []) if c["name"] == name]
    return dict(found)


def env_of(c: Obj) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in c.get("env", [])}


def mount_of(c: Obj, volume: str) -> Obj:
    (found,) = [m for m in c.get("volumeMounts", []) if m["name"] == volume]
    return dict(found)
