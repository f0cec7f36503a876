"""Every GitHub job runs here too: the workflows are thin callers of what .ci/run runs.

The defect this closes: a workflow step that no local run executes (the image job built without
``deploy/build-context.sh``; the test job ran without promtool). So:

* every ``run:`` step is one call of a make target, a repository script or the project's CLI,
  unless it is listed in ``GITHUB_ONLY`` with the reason it cannot run off GitHub (a cluster, AWS);
* every make target, script and CLI command the workflows call is run by ``.ci/run`` (directly or
  through a make target it runs), with the same arguments except ``ENGINE``;
* docs/development.md names, for every job, the local command that runs its steps.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.unit.workflow_checks import CI, WORKFLOWS, jobs, load

CI_RUN = REPO_ROOT / ".ci" / "run"
MAKEFILE = REPO_ROOT / "Makefile"
DEV_GUIDE = REPO_ROOT / "docs" / "development.md"
# Steps that only GitHub can run, by (workflow, job, step name), and why.
GITHUB_ONLY = {
    (
        "ci.yaml",
        "dataset",
        "Read the archive's URL and checksum from params.yaml",
    ): "cache key for GitHub's cache",
    (
        "ci.yaml",
        "dataset",
        "Download from the official URL and verify the checksum",
    ): "here: ../shared holds it",
    (
        "cd.yaml",
        "push-image",
        "Tag and push (<version>-<git sha>), then read the digest back from ECR",
    ): "ECR",
    ("cd.yaml", "promote", "Check the MLflow tracking server is configured"): "production MLflow",
    ("cd.yaml", "deploy", "Connect kubectl to the cluster"): "EKS",
    ("cd.yaml", "deploy", "Record the revision that is live now"): "EKS",
    ("cd.yaml", "deploy", "Apply"): "EKS",
    ("cd.yaml", "deploy", "Wait for the rollout"): "EKS",
    # Its smoke test is deploy/smoke-test.sh, which the image job's smoke test runs here too.
    ("cd.yaml", "deploy", "Smoke-test /readyz and /v1/predict through a port-forward"): "EKS",
    ("cd.yaml", "deploy", "Roll back the deployment"): "EKS",
}
SCRIPT = re.compile(r"^(?:\./)?(?:deploy|scripts)/[\w./-]+$")
# A value for ENGINE, the one argument that differs between GitHub and here.
ENGINE_ARG = re.compile(r"^ENGINE=\w+$")


# --- what a command line calls ---------------------------------------------------------------


def calls(line: str) -> list[tuple[str, ...]]:
    """The project's entry points on one shell line: ("make", target), ("script", path), ("cli", cmd)."""
    found: list[tuple[str, ...]] = []
    for part in re.split(r"&&|\|\||;|\|", line):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            continue
        while words and re.match(r"^\w+=", words[0]):  # VAR=value prefixes
            words = words[1:]
        if not words:
            continue
        head = words[0]
        if head == "make":
            found += [("make", w) for w in words[1:] if not w.startswith("-") and "=" not in w]
        elif head.endswith("/python") and len(words) > 1 and SCRIPT.match(words[1]):
            found.append(("script", words[1].removeprefix("./")))
        elif SCRIPT.match(head):
            found.append(("script", head.removeprefix("./")))
        elif head.endswith("/sentiment") or head == "$(SENTIMENT)":
            found.append(("cli", *words[1:2]))
    return found


def is_single_call(script: str) -> bool:
    """One command line that calls a make target, a repository script or the CLI, nothing else."""
    lines = [
        line for line in script.strip().splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    if len(lines) != 1 or any(op in lines[0] for op in ("&&", "||", ";", "|", "$(")):
        return False
    return bool(calls(lines[0]))


def makefile_recipes(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """target -> (prerequisites, recipe lines)."""
    recipes: dict[str, tuple[list[str], list[str]]] = {}
    current: str | None = None
    joined = text.replace("\\\n", " ")
    for line in joined.splitlines():
        rule = re.match(r"^(?P<target>[A-Za-z0-9_.$()/-]+)\s*:(?!=)\s*(?P<prereqs>[^#]*)", line)
        if rule and not line.startswith("\t"):
            current = rule["target"]
            prereqs = [p for p in rule["prereqs"].split() if p != "|"]
            recipes[current] = (prereqs, [])
        elif line.startswith("\t") and current:
            recipes[current][1].append(line.strip().lstrip("@"))
        elif not line.startswith("\t"):
            current = None
    return recipes


def local_calls(ci_run: str, makefile: str) -> set[tuple[str, ...]]:
    """Every entry point .ci/run runs: its own lines, then the make targets' recipes, recursively."""
    recipes = makefile_recipes(makefile)
    done: set[tuple[str, ...]] = set()
    todo = [c for line in ci_run.splitlines() for c in calls(line)]
    while todo:
        call = todo.pop()
        if call in done:
            continue
        done.add(call)
        if call[0] == "make" and call[1] in recipes:
            prereqs, lines = recipes[call[1]]
            todo += [("make", p) for p in prereqs]
            todo += [c for line in lines for c in calls(line)]
    return done


def workflow_run_steps(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(job, step name, script) of every ``run:`` step."""
    return [
        (job_name, step.get("name", step["run"].strip()), step["run"])
        for job_name, job in jobs(doc).items()
        for step in job.get("steps") or []
        if "run" in step
    ]


# --- the project's workflows -----------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_step_is_a_thin_call_or_needs_github(path: Path) -> None:
    doc = load(path)
    thick = [
        (path.name, job, name)
        for job, name, script in workflow_run_steps(doc)
        if not is_single_call(script) and (path.name, job, name) not in GITHUB_ONLY
    ]
    assert thick == [], "inline scripts: move them into a make target or a script that .ci/run runs"
    listed = {key for key in GITHUB_ONLY if key[0] == path.name}
    present = {(path.name, job, name) for job, name, _ in workflow_run_steps(doc)}
    assert listed <= present, f"GITHUB_ONLY names steps that do not exist: {sorted(listed - present)}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_ci_run_runs_everything_the_workflow_calls(path: Path) -> None:
    local = local_calls(CI_RUN.read_text(encoding="utf-8"), MAKEFILE.read_text(encoding="utf-8"))
    remote = {
        call
        for job, name, script in workflow_run_steps(load(path))
        if (path.name, job, name) not in GITHUB_ONLY
        for line in script.splitlines()
        for call in calls(line)
    }
    assert remote, f"{path.name} calls nothing"
    assert remote - local == set(), f".ci/run never runs: {sorted(remote - local)}"


def make_calls(text: str) -> set[tuple[str, ...]]:
    """Each ``make`` line's words, ENGINE left out and other variables by name only."""
    found = set()
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words[:1] == ["make"]:
            found.add(
                tuple(w.split("=")[0] + "=" if "=" in w else w for w in words[1:] if not ENGINE_ARG.match(w))
            )
    return found


def test_workflow_make_calls_differ_from_ci_run_only_in_the_engine() -> None:
    ci_run, makefile = CI_RUN.read_text(encoding="utf-8"), MAKEFILE.read_text(encoding="utf-8")
    # a target .ci/run reaches as a prerequisite of one it calls (make test -> test-fast) counts too
    reached = {(c[1],) for c in local_calls(ci_run, makefile) if c[0] == "make" and len(c) == 2}
    local = make_calls(ci_run) | reached
    for path in WORKFLOWS:
        remote = {c for _, _, script in workflow_run_steps(load(path)) for c in make_calls(script)}
        assert remote - local == set(), f"{path.name}: no such make call in .ci/run: {sorted(remote - local)}"


def test_the_image_job_builds_its_context() -> None:
    # The defect as it was: `docker build -f deploy/Dockerfile .` without deploy/build-context.sh.
    recipes = makefile_recipes(MAKEFILE.read_text(encoding="utf-8"))
    local = local_calls("make image ENGINE=docker", MAKEFILE.read_text(encoding="utf-8"))
    assert ("script", "deploy/build-context.sh") in local and ("make", "wheels") in local
    assert "build-image.sh" in " ".join(recipes["image"][1])
    image = jobs(load(CI))["image"]
    assert "make image ENGINE=docker" in [step.get("run") for step in image["steps"]]


TIERS = ("slow", "integration", "container", "shared")


def test_the_tiers_ci_runs_cover_every_test() -> None:
    """Every combination of tier markers is selected by a pytest -m of a target .ci/run runs."""
    from _pytest.mark.expression import Expression

    recipes = makefile_recipes(MAKEFILE.read_text(encoding="utf-8"))
    variables = dict(re.findall(r"^(\w+)\s*:?=\s*(.+)$", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE))
    local = local_calls(CI_RUN.read_text(encoding="utf-8"), MAKEFILE.read_text(encoding="utf-8"))
    expressions = []
    for call in local:
        for line in recipes.get(call[1], ([], []))[1] if call[0] == "make" else []:
            match = re.search(r'pytest -m "([^"]+)"', line)
            if match:
                expr = re.sub(r"\$\((\w+)\)", lambda m: variables[m[1]], match[1])
                expressions.append(Expression.compile(expr))
    assert len(expressions) >= 3
    for size in range(len(TIERS) + 1):
        for combo in itertools.combinations(TIERS, size):
            marks = set(combo)
            assert any(e.evaluate(lambda name, marks=marks: name in marks) for e in expressions), (
                f"no CI target runs tests marked {sorted(marks) or 'with no tier'}"
            )


def test_the_test_job_installs_the_tools_its_tests_need() -> None:
    # The defect as it was: make test-fast with no promtool, kubectl or hadolint on the runner.
    test = [step.get("run") for step in jobs(load(CI))["test"]["steps"]]
    assert test.index("make system-packages") < test.index("make test-fast")
    assert test.index("make setup") < test.index("make test-fast")  # kubectl, hadolint: wheels
    script = (REPO_ROOT / "scripts" / "ci" / "system-packages.sh").read_text(encoding="utf-8")
    assert "prometheus" in script


@pytest.mark.parametrize(
    "script",
    [
        # What the image job ran before: an engine call that no local run makes.
        'docker build --file deploy/Dockerfile --tag "$IMAGE" .',
        "make setup && make lint",
        ".venv/bin/pytest -m 'slow and not container'",
        'python3 scripts/fetch_shared.py --dest "$RUNNER_TEMP/shared"\necho "X=1" >> "$GITHUB_ENV"',
    ],
)
def test_thick_steps_are_recognised(script: str) -> None:
    assert not is_single_call(script)


@pytest.mark.parametrize(
    "script", ["make image ENGINE=docker", "deploy/smoke-test.sh http://127.0.0.1:18080 30"]
)
def test_thin_steps_are_recognised(script: str) -> None:
    assert is_single_call(script)


def test_a_call_ci_run_never_makes_is_caught() -> None:
    local = local_calls("make lint\nmake test-fast\n", MAKEFILE.read_text(encoding="utf-8"))
    assert ("make", "test-fast") in local and ("make", "setup") in local  # prerequisites count
    assert ("make", "image") not in local


# --- the development guide ------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_the_guide_names_a_local_command_for_every_job(path: Path) -> None:
    guide = DEV_GUIDE.read_text(encoding="utf-8")
    rows = {row.split("|")[1].strip(): row for row in guide.splitlines() if row.startswith("| ")}
    for name, job in jobs(load(path)).items():
        title = job.get("name", name)
        assert title in rows, f"docs/development.md has no row for job {title!r}"
        local = rows[title].rstrip(" |").rsplit("|", 1)[1]
        assert "`" in local, f"job {title!r}: no local command named"
