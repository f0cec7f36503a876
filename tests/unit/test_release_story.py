"""The runbook, CD and the manifests tell one story of how a model reaches production.

The pod serves the model baked into its image (read-only ``/app/model``, no MLflow in the image),
so a new champion ships only as a new image through CD, and a rollback is a rollout undo plus
``sentiment restore-champion``. The runbook once said "move the alias, send SIGHUP", which
cannot work in Kubernetes; these checks fail on that text, on a CD that ships without the
registered identity, and on a runbook command that does not exist.
tests/integration/test_model_identity.py runs the story against a real registry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sentiment_mlops.cli import app
from tests.conftest import REPO_ROOT

RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
CD = REPO_ROOT / ".github" / "workflows" / "cd.yaml"
DEPLOYMENT = REPO_ROOT / "deploy" / "k8s" / "base" / "deployment.yaml"
OLD_FIX = """- A bad model after a reload: point the `champion` alias back to the previous version in MLflow
  and send SIGHUP (or restart the pods)."""


def _commands() -> set[str]:
    """The CLI's commands and command groups (``sentiment feedback export`` is in group ``feedback``)."""
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    return commands | {g.name for g in app.registered_groups if g.name}


def runbook_problems(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        if "SIGHUP" in line and "alias" in line:
            found.append(f"tells a SIGHUP after an alias move, which a baked image ignores: {line.strip()}")
    if re.search(r"send SIGHUP|and SIGHUP|SIGHUP \(or restart", text):
        found.append("tells an operator to send SIGHUP to production pods")
    for command in re.findall(r"`sentiment ([a-z-]+)", text):
        if command not in _commands():
            found.append(f"`sentiment {command}` is not a command")
    for script in re.findall(r"`(deploy/[\w.-]+\.sh)", text):
        if not (REPO_ROOT / script).is_file():
            found.append(f"{script} does not exist")
    if "rollout undo" not in text or "restore-champion" not in text:
        found.append("no rollback: rollout undo and restore-champion")
    return found


def test_the_runbook_tells_the_story_that_works() -> None:
    assert runbook_problems(RUNBOOK.read_text()) == []


def test_the_previous_runbook_fails() -> None:
    text = RUNBOOK.read_text()
    section = "## SentimentApiHighErrorRatio"
    old = text.replace(section, f"{section}\n\n{OLD_FIX}\n")
    assert runbook_problems(old) != []


def _steps(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def cd_problems(workflow: dict) -> list[str]:
    jobs = workflow["jobs"]
    found = []
    if "deploy/release-model.sh" not in _steps(jobs["promote"]):
        found.append("promote does not register, gate and export the version (deploy/release-model.sh)")
    if "promote" not in (jobs["push-image"].get("needs") or []):
        found.append("push-image does not wait for the registered model")
    if "deploy/build-image.sh release" not in _steps(jobs["push-image"]):
        found.append("the pushed image does not carry the registry's identity (build-image.sh release)")
    smoke = (REPO_ROOT / "deploy" / "smoke-test.sh").read_text()
    for job in ("push-image", "deploy"):
        if "EXPECT_MODEL_VERSION" not in _steps(jobs[job]) or "/version" not in smoke:
            found.append(f"{job}: nothing checks that it serves the released version (smoke-test.sh)")
    restore = _steps(jobs["restore-champion"])
    if "sentiment restore-champion" not in restore and "scripts/champion.py restore" not in restore:
        found.append("a failed deployment does not point the champion back")
    if re.search(r"kill -HUP|SIGHUP", CD.read_text()):
        found.append("CD signals pods to reload")
    return found


def test_cd_ships_a_model_only_as_a_new_image() -> None:
    assert cd_problems(yaml.safe_load(CD.read_text())) == []


@pytest.mark.parametrize(
    "break_it",
    [
        lambda w: w["jobs"]["push-image"].pop("needs"),
        lambda w: w["jobs"]["promote"]["steps"].pop(-2),  # the release-model step
    ],
    ids=["push-before-register", "no-release-model"],
)
def test_a_cd_that_skips_the_registered_identity_is_caught(break_it) -> None:
    workflow = yaml.safe_load(CD.read_text())
    break_it(workflow)
    assert cd_problems(workflow) != []


def test_the_pod_serves_a_baked_read_only_model_without_the_registry() -> None:
    # What makes "new image" the only way: if this changes, the story above must change with it.
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env.get("SENTIMENT_MODEL_URI", "/app/model") == "/app/model"
    assert "MLFLOW_TRACKING_URI" not in env
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    assert "COPY build/model /app/model" in dockerfile and "SENTIMENT_MODEL_URI=/app/model" in dockerfile
    requirements = (REPO_ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]
    assert "mlflow" not in requirements  # the image installs the core dependencies only


def test_the_release_image_changes_only_the_card() -> None:
    release = (REPO_ROOT / "deploy" / "Dockerfile.release").read_text()
    copies = [line for line in release.splitlines() if line.startswith(("COPY", "ADD", "RUN"))]
    assert copies == ["COPY build/model/card.json /app/model/card.json"]
    assert Path(REPO_ROOT / "deploy" / "build-image.sh").read_text().count("bakes model") == 1
