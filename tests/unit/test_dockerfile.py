"""The Dockerfiles pass hadolint and the checks a reviewer makes; broken variants fail them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
DOCKERFILES = [DOCKERFILE, REPO_ROOT / "deploy" / "Dockerfile.scaler"]
HADOLINT = REPO_ROOT / ".venv" / "bin" / "hadolint"
BASE_IMAGE = "python:3.11-slim-bookworm"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    )
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def problems(text: str) -> list[str]:
    """What a reviewer would refuse in an image for the cluster (beyond hadolint's rules)."""
    found = []
    steps = instructions(text)
    froms = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"]
    if not froms:
        return ["no FROM"]
    for i in froms:
        image = steps[i][1].split()[0]
        if image != BASE_IMAGE:
            found.append(f"FROM {image}: every stage starts from {BASE_IMAGE}")
    final = steps[froms[-1] :]
    users = [args for keyword, args in final if keyword == "USER"]
    if not users:
        found.append("the final stage has no USER: it would run as root")
    elif not re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", users[-1]):
        found.append(f"USER {users[-1]}: the final user must be a numeric non-root uid (runAsNonRoot)")
    for keyword in ("HEALTHCHECK", "EXPOSE", "CMD"):
        if not any(k == keyword for k, _ in final):
            found.append(f"the final stage has no {keyword}")
    if any(k in ("COPY", "ADD") and re.match(r"(--\S+\s+)*\.\s", args) for k, args in final):
        found.append("the final stage copies the whole build context")
    return found


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, check=False
    )


@pytest.mark.integration  # runs hadolint
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_hadolint_clean(dockerfile: Path) -> None:
    out = hadolint(dockerfile)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_the_review_checks(dockerfile: Path) -> None:
    assert problems(dockerfile.read_text()) == []


@pytest.mark.parametrize(
    ("change", "hadolint_rule", "problem"),
    [
        (lambda t: t.replace(f"FROM {BASE_IMAGE}\n", "FROM python:latest\n"), "DL3007", "FROM python:latest"),
        (lambda t: t.replace(f"FROM {BASE_IMAGE}\n", "FROM python\n"), "DL3006", "FROM python:"),
        (lambda t: t.replace("USER 10001:10001\n", "USER root\n"), "DL3002", "USER root"),
        (lambda t: t.replace("USER 10001:10001\n", ""), None, "no USER"),
        (lambda t: re.sub(r"\nHEALTHCHECK [^\n]*\\\n[^\n]*\n", "\n", t), None, "no HEALTHCHECK"),
        (lambda t: t.replace("COPY build/model /app/model", "COPY . /app"), None, "whole build context"),
    ],
    ids=["latest", "untagged", "root", "no-user", "no-healthcheck", "copy-everything"],
)
@pytest.mark.integration  # runs hadolint
def test_a_broken_dockerfile_fails(change, hadolint_rule: str | None, problem: str, tmp_path: Path) -> None:
    original = DOCKERFILE.read_text()
    broken = change(original)
    assert broken != original, "the test's edit did not apply: update it with the Dockerfile"
    path = tmp_path / "Dockerfile"
    path.write_text(broken)
    assert any(problem in p for p in problems(broken)), problems(broken)
    if hadolint_rule is not None:
        out = hadolint(path)
        assert out.returncode != 0 and hadolint_rule in out.stdout, out.stdout
