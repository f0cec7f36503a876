"""The shadow stage in the cluster (deploy/k8s/components/shadow), as the release renders it.

``deploy/render-overlay.sh IMAGE`` with ``SHADOW_IMAGE`` (what ``make manifests IMAGE_REF=...
SHADOW_IMAGE_REF=...`` runs in CD and .ci/run) must give a pod whose init container runs the
challenger's image, pinned by digest, and copies its /app/model into a subfolder of an emptyDir
that the API container, still the champion's image, mounts read-only and names in
SENTIMENT_SHADOW_MODEL_URI; with memory for two models, as measured
(reports/bench/shadow-memory.json). tests/integration/test_shadow_container.py runs that pod.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.integration.shadow_pod import (
    CHALLENGER_REF,
    CHAMPION_REF,
    INIT_NAME,
    REPOSITORY,
    container,
    env_of,
    mount_of,
    pod_spec,
    render_release,
    rendered_objects,
)
from tests.unit.manifest_checks import _report, all_problems, review_problems
from tests.unit.manifest_render import K8S, Obj, render, write_overlay

pytestmark = pytest.mark.integration  # renders with kubectl kustomize

VOLUME = "shadow-model"
MEMORY_REPORT = REPO_ROOT / "reports" / "bench" / "shadow-memory.json"
MI = 2**20


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor / MI
    return float(quantity) / MI


@pytest.fixture(scope="module")
def shadowed() -> list[Obj]:
    return rendered_objects()


@pytest.fixture(scope="module")
def plain() -> list[Obj]:
    return rendered_objects(shadow=None)


def test_the_release_validates_strictly(shadowed: list[Obj]) -> None:
    assert all_problems(shadowed) == [], _report(all_problems(shadowed))


def test_the_init_container_runs_the_challengers_image_pinned_by_digest(shadowed: list[Obj]) -> None:
    pod = pod_spec(shadowed)
    init, api = container(pod, INIT_NAME, "initContainers"), container(pod, "api")
    assert init["image"] == CHALLENGER_REF and api["image"] == CHAMPION_REF
    assert [c["name"] for c in pod["initContainers"]] == [INIT_NAME]
    # Same repository, other digest: the champion's rename must not reach the init container.
    assert init["image"].split("@")[0] == api["image"].split("@")[0] == REPOSITORY


def test_render_refuses_a_challenger_named_by_tag() -> None:
    out = render_release(shadow=f"{REPOSITORY}:0.1.0")
    assert out.returncode == 2 and "not pinned by digest" in out.stderr, out.stderr
    assert out.stdout == ""


def test_the_copy_goes_into_a_subfolder_of_the_mount_that_the_api_reads_read_only(
    shadowed: list[Obj],
) -> None:
    pod = pod_spec(shadowed)
    init, api = container(pod, INIT_NAME, "initContainers"), container(pod, "api")
    uri = env_of(api)["SENTIMENT_SHADOW_MODEL_URI"]
    command = init["command"]
    assert command[:2] == ["python3", "-c"]
    source, destination = command[3:]
    # The challenger's image keeps its model where every API image does.
    assert source == env_of(api)["SENTIMENT_MODEL_URI"] == "/app/model"
    assert destination == uri
    init_mount, api_mount = mount_of(init, VOLUME), mount_of(api, VOLUME)
    assert init_mount["mountPath"] == api_mount["mountPath"]
    # Not the mount point itself: copying onto it fails (EPERM, the mount point is root's).
    assert Path(uri).parent == Path(api_mount["mountPath"])
    assert api_mount.get("readOnly") is True and not init_mount.get("readOnly", False)
    (volume,) = [v for v in pod["volumes"] if v["name"] == VOLUME]
    assert set(volume) == {"name", "emptyDir"}
    measured = json.loads(MEMORY_REPORT.read_text())
    assert _mebibytes(volume["emptyDir"]["sizeLimit"]) * MI > measured["model_bytes"]


def test_without_a_shadow_image_nothing_shadows(plain: list[Obj]) -> None:
    pod = pod_spec(plain)
    api = container(pod, "api")
    assert "initContainers" not in pod
    assert "SENTIMENT_SHADOW_MODEL_URI" not in env_of(api)
    assert VOLUME not in {v["name"] for v in pod["volumes"]}
    assert api["image"] == CHAMPION_REF


def test_memory_is_raised_for_two_models_by_at_least_what_was_measured(
    shadowed: list[Obj], plain: list[Obj]
) -> None:
    measured = json.loads(MEMORY_REPORT.read_text())
    with_shadow = container(pod_spec(shadowed), "api")["resources"]
    without = container(pod_spec(plain), "api")["resources"]

    def mib(resources: Obj, section: str) -> float:
        return _mebibytes(resources[section]["memory"])

    steady, peak = measured["increase_mib"]["steady"], measured["increase_mib"]["peak"]
    assert steady > 0 and peak > 0, measured["increase_mib"]
    assert mib(with_shadow, "requests") - mib(without, "requests") >= steady
    assert mib(with_shadow, "limits") - mib(without, "limits") >= peak
    assert mib(with_shadow, "limits") > measured["runs"]["shadow"]["peak_mib"]
    assert with_shadow["requests"]["cpu"] == without["requests"]["cpu"]


def test_the_base_pod_has_memory_for_what_was_measured_without_a_shadow(plain: list[Obj]) -> None:
    """The plain pod's request covers its measured working set and its limit the reload's peak
    with headroom: a pod at its limit is OOM-killed, and a SIGHUP reload briefly holds two models."""
    measured = json.loads(MEMORY_REPORT.read_text())["runs"]["plain"]
    resources = container(pod_spec(plain), "api")["resources"]
    assert _mebibytes(resources["requests"]["memory"]) >= measured["steady_mib"], measured
    assert _mebibytes(resources["limits"]["memory"]) >= 1.2 * measured["peak_mib"], measured


def test_an_unpinned_challenger_fails_validation(tmp_path: Path) -> None:
    """The component alone leaves the image to the release: forgotten, the review rejects it."""
    objects = render(
        write_overlay(tmp_path / "unpinned", K8S / "overlays" / "eks", [K8S / "components" / "shadow"])
    )
    problems = review_problems(objects)
    assert any(
        f"container {INIT_NAME}: image 'sentiment-api-challenger' has no tag or digest" in p for p in problems
    ), problems


def test_the_shadow_rides_on_the_canary_rollout(tmp_path: Path) -> None:
    components = [K8S / "components" / c for c in ("istio", "canary")]
    overlay = write_overlay(tmp_path / "canary", K8S / "overlays" / "eks", components)
    out = render_release(overlay=overlay)
    assert out.returncode == 0, out.stderr
    objects = [doc for doc in yaml.safe_load_all(out.stdout) if doc]
    assert all_problems(objects) == [], _report(all_problems(objects))
    rollout = [o for o in objects if o["kind"] == "Rollout"]
    assert len(rollout) == 1
    pod = pod_spec(objects)
    assert container(pod, INIT_NAME, "initContainers")["image"] == CHALLENGER_REF
    assert env_of(container(pod, "api"))["SENTIMENT_SHADOW_MODEL_URI"].startswith(
        mount_of(container(pod, "api"), VOLUME)["mountPath"] + "/"
    )


def _stage(**env: str) -> tuple[int, dict[str, str], str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if k not in {"GITHUB_OUTPUT", "LIVE_IMAGE", "CHAMPION_VERSION", "SHADOW_VERSION"}
    }
    out = subprocess.run(
        [str(REPO_ROOT / "deploy" / "release-stage.sh")],
        env={**keep, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    lines = dict(line.split("=", 1) for line in out.stdout.splitlines())
    return out.returncode, lines, out.stderr


def test_the_release_stage_ships_the_new_image_and_nothing_shadows() -> None:
    rc, lines, _ = _stage(
        STAGE="release", NEW_IMAGE=CHALLENGER_REF, MODEL_VERSION="7", MODEL_CONTENT_HASH="abc"
    )
    assert rc == 0
    assert lines == {
        "image-ref": CHALLENGER_REF,
        "shadow-image-ref": "",
        "expect-version": "7",
        "expect-content-hash": "abc",
        "expect-shadow-version": "",
    }


def test_a_release_after_a_shadow_stage_ships_the_version_shadowed() -> None:
    # CD passes SENTIMENT_SHADOW_VERSION to the deploy job too: the release must serve that version.
    release = {"STAGE": "release", "NEW_IMAGE": CHALLENGER_REF, "MODEL_CONTENT_HASH": "abc"}
    rc, lines, _ = _stage(**release, MODEL_VERSION="7", SHADOW_VERSION="7")
    assert rc == 0 and lines["expect-version"] == "7" and lines["expect-content-hash"] == "abc"
    rc, lines, stderr = _stage(**release, MODEL_VERSION="8", SHADOW_VERSION="7")
    assert rc == 2 and lines == {}
    assert "version 8 is not the version shadowed (7)" in stderr
    # the shadow stage itself ignores a shadow version left over from the last release
    rc, lines, _ = _stage(
        STAGE="shadow",
        NEW_IMAGE=CHALLENGER_REF,
        MODEL_VERSION="8",
        LIVE_IMAGE=CHAMPION_REF,
        CHAMPION_VERSION="7",
        SHADOW_VERSION="7",
    )
    assert rc == 0 and lines["expect-shadow-version"] == "8"


def test_the_shadow_stage_keeps_the_champion_serving(tmp_path: Path) -> None:
    github_output = tmp_path / "out"
    rc, lines, _ = _stage(
        STAGE="shadow",
        NEW_IMAGE=CHALLENGER_REF,
        MODEL_VERSION="7",
        LIVE_IMAGE=CHAMPION_REF,
        CHAMPION_VERSION="6",
        GITHUB_OUTPUT=str(github_output),
    )
    assert rc == 0
    assert lines == {
        "image-ref": CHAMPION_REF,
        "shadow-image-ref": CHALLENGER_REF,
        "expect-version": "6",
        "expect-content-hash": "",
        "expect-shadow-version": "7",
    }
    assert github_output.read_text().splitlines() == [f"{k}={v}" for k, v in lines.items()]
    # what CD then renders: the champion serving, the challenger in the init container
    pod = pod_spec(rendered_objects(lines["image-ref"], lines["shadow-image-ref"]))
    assert container(pod, "api")["image"] == CHAMPION_REF
    assert container(pod, INIT_NAME, "initContainers")["image"] == CHALLENGER_REF


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STAGE": "shadow", "MODEL_VERSION": "7", "CHAMPION_VERSION": "6"}, "no live API image"),
        ({"STAGE": "shadow", "MODEL_VERSION": "7", "LIVE_IMAGE": CHAMPION_REF}, "the registry has none"),
        (
            {"STAGE": "shadow", "MODEL_VERSION": "7", "LIVE_IMAGE": CHALLENGER_REF, "CHAMPION_VERSION": "6"},
            "cannot shadow itself",
        ),
        ({"STAGE": "canary", "MODEL_VERSION": "7"}, "unknown STAGE"),
    ],
    ids=["no-champion-image", "no-champion-version", "itself", "unknown-stage"],
)
def test_a_shadow_stage_without_a_champion_is_refused(env: dict[str, str], message: str) -> None:
    rc, lines, stderr = _stage(NEW_IMAGE=CHALLENGER_REF, **env)
    assert rc == 2 and message in stderr and lines == {}


def test_a_new_image_by_tag_is_refused() -> None:
    rc, _, stderr = _stage(STAGE="release", NEW_IMAGE=f"{REPOSITORY}:0.1.0", MODEL_VERSION="7")
    assert rc == 2 and "not pinned by digest" in stderr
