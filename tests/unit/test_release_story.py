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


# --- the promotion path: registered -> shadow -> canary -> champion, or back -------------------

DEVELOPMENT = REPO_ROOT / "docs" / "development.md"
RELEASE_MODEL = REPO_ROOT / "deploy" / "release-model.sh"
STAGES = ("Registered", "Shadow", "Canary", "Champion")


def _subcommands() -> set[str]:
    """``group command`` for every command of a group (``shadow report``, ``feedback export``)."""
    found = set()
    for group in app.registered_groups:
        for command in group.typer_instance.registered_commands:
            found.add(f"{group.name} {command.name or command.callback.__name__}")
    return found


def _options(name: str) -> set[str]:
    """The options of ``sentiment NAME``."""
    import typer.main

    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    return {opt for param in command.params for opt in param.opts}


def promotion_problems(development: str, runbook: str, release_script: str) -> list[str]:
    found = []
    section = development.split("## How a model moves from challenger to champion", 1)[-1].split("\n## ", 1)[
        0
    ]
    positions = [section.find(f"**{stage}.**") for stage in STAGES]
    if -1 in positions or positions != sorted(positions):
        found.append(f"development.md does not give the stages in order: {STAGES}")
    for text, where in ((section, "development.md"), (runbook, "runbook.md")):
        for group, sub in re.findall(r"sentiment (shadow|feedback) ([a-z-]+)", text):
            if f"{group} {sub}" not in _subcommands():
                found.append(f"{where}: `sentiment {group} {sub}` is not a command")
        for name in ("serve", "register"):
            lines = re.findall(rf"sentiment {name}((?:\s+(?:--[a-z-]+|[^\s`-][^\s`]*))+)", text)
            for option in {o for line in lines for o in re.findall(r"--[a-z-]+", line)}:
                if option not in _options(name):
                    found.append(f"{where}: `sentiment {name} {option}` is not an option")
        # The release after a shadow stage promotes the version shadowed, never a copy of it.
        if "SHADOW_VERSION" not in text or "sentiment register --version" not in text:
            found.append(f"{where}: the release after a shadow stage does not name the version shadowed")
        if re.search(r"registers? (the (same )?weights|the model|it) again", text):
            found.append(f"{where}: the release registers the shadowed model again")
        for command in re.findall(r"`sentiment ([a-z-]+)", text):
            if command not in _commands():
                found.append(f"{where}: `sentiment {command}` is not a command")
        if "restore-champion" not in text or "rollout undo" not in text:
            found.append(f"{where}: no rollback of model and alias together")
        if "sentiment shadow report" not in text:
            found.append(f"{where}: the shadow stage has no verdict (sentiment shadow report)")
    calls = ('"$SENTIMENT" register', '"$SENTIMENT" shadow report', '"$SENTIMENT" promote')
    steps = [release_script.find(call) for call in calls]
    if -1 in steps or steps != sorted(steps):
        found.append("release-model.sh does not check the shadow report between register and promote")
    if '--version "$SHADOW_VERSION"' not in release_script:
        found.append("release-model.sh registers the shadowed model again instead of reusing SHADOW_VERSION")
    return found


def test_the_promotion_path_is_one_story_of_commands_that_exist() -> None:
    assert promotion_problems(DEVELOPMENT.read_text(), RUNBOOK.read_text(), RELEASE_MODEL.read_text()) == []


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d, r, s: (d.replace("**Shadow.**", "**Mirror.**"), r, s),
        lambda d, r, s: (d, r.replace("sentiment shadow report", "sentiment shadow verdict"), s),
        lambda d, r, s: (d.replace("--shadow models:/", "--mirror models:/"), r, s),
        lambda d, r, s: (d, r, s.replace('"$SENTIMENT" shadow report', "true")),
        lambda d, r, s: (d, r, s.replace('--version "$SHADOW_VERSION"', "")),
        lambda d, r, s: (d.replace("register --version", "register --reuse"), r, s),
        lambda d, r, s: (d, r + "\nThe release registers the same weights again as a new version.\n", s),
        lambda d, r, s: (d, r.replace("SHADOW_VERSION", "SHADOW_RUN"), s),
    ],
    ids=[
        "stage-missing",
        "no-such-subcommand",
        "no-such-option",
        "release-skips-shadow",
        "release-registers-again",
        "no-such-register-option",
        "runbook-registers-again",
        "runbook-names-no-shadow-version",
    ],
)
def test_a_broken_promotion_story_is_caught(break_it) -> None:
    texts = break_it(DEVELOPMENT.read_text(), RUNBOOK.read_text(), RELEASE_MODEL.read_text())
    assert promotion_problems(*texts) != []


def test_cd_gives_the_release_script_the_shadow_log() -> None:
    workflow = yaml.safe_load(CD.read_text())
    assert "SHADOW_LOG" in workflow["jobs"]["promote"]["env"]
