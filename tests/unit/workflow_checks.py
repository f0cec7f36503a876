"""Offline checks of the GitHub Actions workflows in .github/workflows.

What a broken workflow costs is a red build on GitHub at best and a leaked credential at worst,
so these checks run here, before a push, with no network:

* each workflow validates against the GitHub workflow JSON schema bundled with check-jsonschema;
* zizmor (a security linter for Actions) reports nothing, at its ``pedantic`` persona;
* every action is pinned to a full commit SHA with a ``# vX.Y.Z`` comment, no ``run:`` script
  interpolates ``${{ }}`` (values reach scripts through ``env:``), every job is time-boxed,
  checkouts keep no credentials, and permissions are least-privilege;
* every ``make`` target and every repository path a workflow refers to exists.

A deliberately bad workflow is run through the same checks to show that they reject it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

WORKFLOW_DIR = REPO_ROOT / ".github" / "workflows"
CI = WORKFLOW_DIR / "ci.yaml"
CD = WORKFLOW_DIR / "cd.yaml"
WORKFLOWS = [CI, CD]

# zizmor's personas, from least to most noisy: regular, pedantic, auditor.
ZIZMOR_PERSONA = "pedantic"

PINNED_ACTION = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)\s*(?:#\s*(?P<comment>.*))?$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+\b")
MAKE_CALL = re.compile(r"(?:^|[\s;&|(])make\s+(?P<args>[^;&|\n]*)")
# Paths into the repository's own tracked tree; generated ones (data/, models/, ...) are left out.
REPO_PATH = re.compile(
    r"(?<![\w./$-])(?:\./)?(?P<path>(?:deploy|scripts|src|tests|docs|bench|\.github)/[\w./-]*[\w-]"
    r"|pyproject\.toml|uv\.lock|params\.yaml|dvc\.yaml|Makefile)(?![\w.-])"
)


# --- helpers: each takes a parsed workflow (or a file) and returns the problems it finds -------


def tool(name: str) -> str:
    """The executable ``name`` from this virtualenv (else PATH); fail clearly if missing."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run `make setup`")
    return found


def load(path: Path) -> dict[str, Any]:
    """Parse a workflow; PyYAML reads the key ``on`` as ``True``, so put it back."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path} is not a mapping"
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def jobs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return doc.get("jobs") or {}


def steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in jobs(doc).items() for step in job.get("steps") or []]


def run_scripts(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, step["run"]) for name, step in steps(doc) if "run" in step]


def all_uses(doc: dict[str, Any]) -> list[str]:
    """Every ``uses:``: steps' actions and jobs' reusable workflows."""
    refs = [step["uses"] for _, step in steps(doc) if "uses" in step]
    refs += [job["uses"] for job in jobs(doc).values() if "uses" in job]
    return refs


def is_local(ref: str) -> bool:
    return ref.startswith(("./", "$/"))


def unpinned_uses(doc: dict[str, Any]) -> list[str]:
    """Remote actions not pinned to a 40-hex commit SHA (Docker actions need a digest)."""
    bad = []
    for ref in all_uses(doc):
        if is_local(ref):
            continue
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                bad.append(ref)
        elif not PINNED_ACTION.match(ref):
            bad.append(ref)
    return bad


def missing_version_comments(text: str) -> list[str]:
    """``uses:`` lines of remote actions without a ``# vX.Y.Z`` comment naming the release."""
    bad = []
    for line in text.splitlines():
        match = USES_LINE.match(line)
        remote = match is not None and not is_local(match["ref"])
        if remote and match and not VERSION_COMMENT.match(match["comment"] or ""):
            bad.append(line.strip())
    return bad


def interpolating_scripts(doc: dict[str, Any]) -> list[str]:
    """Jobs with a ``run:`` script that expands ``${{ ... }}`` into shell code."""
    return [job for job, script in run_scripts(doc) if "${{" in script]


def make_targets(doc: dict[str, Any]) -> set[str]:
    """Targets of every ``make`` call in the workflow's scripts."""
    targets: set[str] = set()
    for _, script in run_scripts(doc):
        for match in MAKE_CALL.finditer(script):
            targets.update(
                word for word in match["args"].split() if not word.startswith("-") and "=" not in word
            )
    return targets


def makefile_targets(makefile: Path) -> set[str]:
    rule = re.compile(r"^(?P<target>[A-Za-z0-9_-]+)\s*:(?!=)", re.MULTILINE)
    return {m["target"] for m in rule.finditer(makefile.read_text(encoding="utf-8"))}


def strings(node: Any) -> list[str]:
    """Every string value in a parsed document (keys and comments excluded)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def referenced_paths(doc: dict[str, Any]) -> set[str]:
    """Repository paths a workflow names: local ``uses:``, and paths in scripts, inputs and env."""
    paths = {ref[2:] for ref in all_uses(doc) if is_local(ref)}
    for value in strings(doc):
        paths.update(m["path"].rstrip("/") for m in REPO_PATH.finditer(value))
    return paths


def missing_paths(doc: dict[str, Any], root: Path) -> list[str]:
    return sorted(path for path in referenced_paths(doc) if not (root / path).exists())


def schema_check(
    path: Path, schema: str = "vendor.github-workflows", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against one of the schemas it bundles (no download)."""
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def zizmor_findings(target: Path, cwd: Path) -> list[dict[str, Any]]:
    """zizmor's findings for a file or directory, offline, at ``ZIZMOR_PERSONA``."""
    proc = subprocess.run(
        [
            tool("zizmor"),
            "--offline",
            "--no-config",
            "--persona",
            ZIZMOR_PERSONA,
            "--format",
            "json",
            "--no-exit-codes",
            "--no-progress",
            str(target),
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"zizmor failed to run:\n{proc.stderr}"
    findings: list[dict[str, Any]] = json.loads(proc.stdout)
    return findings


def describe(findings: list[dict[str, Any]]) -> str:
    lines = []
    for finding in findings:
        where = finding["locations"][0]["concrete"]["location"]["start_point"]
        path = finding["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"]
        lines.append(f"{path}:{where['row'] + 1}: {finding['ident']}: {finding['desc']}")
    return "\n".join(lines)


# --- the project's workflows ---------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(path: Path) -> None:
    proc = schema_check(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_needs_no_network() -> None:
    # Every proxy points at a closed port: a schema download would fail the check.
    env = {"PATH": "/usr/bin:/bin", "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    proc = schema_check(CI, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dependabot_config_matches_its_schema() -> None:
    proc = schema_check(REPO_ROOT / ".github" / "dependabot.yml", "vendor.dependabot")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.integration  # runs zizmor
def test_zizmor_finds_nothing() -> None:
    # The whole .github folder: both workflows and the Dependabot configuration.
    findings = zizmor_findings(Path(".github"), cwd=REPO_ROOT)
    assert findings == [], describe(findings)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commit_shas_with_version_comments(path: Path) -> None:
    assert unpinned_uses(load(path)) == []
    assert missing_version_comments(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_scripts_take_values_from_env_not_template_expansion(path: Path) -> None:
    assert interpolating_scripts(load(path)) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_make_target_exists(path: Path) -> None:
    used = make_targets(load(path))
    assert used, f"{path.name} runs no make target"
    assert used <= makefile_targets(REPO_ROOT / "Makefile"), "missing: " + ", ".join(
        sorted(used - makefile_targets(REPO_ROOT / "Makefile"))
    )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_referenced_path_exists(path: Path) -> None:
    # Paths other parts of the project are still adding fail here until they land.
    assert missing_paths(load(path), REPO_ROOT) == []


def test_path_extraction_sees_what_the_workflows_build_and_deploy() -> None:
    assert {".github/workflows/cd.yaml", "params.yaml"} <= referenced_paths(load(CI))
    assert {"deploy/smoke-test.sh", "scripts/champion.py", "pyproject.toml"} <= referenced_paths(load(CD))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_hygiene(path: Path) -> None:
    doc = load(path)
    assert "pull_request_target" not in doc["on"]
    assert "workflow_run" not in doc["on"]
    assert doc["permissions"] == {}, "grant permissions per job, not for the whole workflow"
    for name, job in jobs(doc).items():
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"job {name} declares no permissions"
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes <= {"id-token"}, f"job {name} can write {writes}"
        if "uses" not in job:  # a job calling a reusable workflow cannot set a timeout
            assert isinstance(job.get("timeout-minutes"), int), f"job {name} has no timeout-minutes"
    for name, step in steps(doc):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"checkout in {name}"


def test_only_aws_jobs_get_an_oidc_token() -> None:
    for path in WORKFLOWS:
        for name, job in jobs(load(path)).items():
            if job.get("permissions", {}).get("id-token") != "write":
                continue
            uses = [step.get("uses", "") for step in job.get("steps") or []]
            aws = any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
            assert "uses" in job or aws, f"{path.name}: job {name} gets an OIDC token it does not use"


def test_ci_cancels_superseded_pull_request_runs_but_never_main() -> None:
    group = load(CI)["concurrency"]
    assert "github.ref" in group["group"]
    assert group["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_delivery_runs_only_on_main_and_only_after_every_check() -> None:
    ci = jobs(load(CI))
    callers = {name: job for name, job in ci.items() if job.get("uses") == "$/.github/workflows/cd.yaml"}
    assert list(callers) == ["deliver"]
    deliver = callers["deliver"]
    checks = {name for name in ci if name != "deliver"}
    # Every job with no dependants of its own must gate delivery; the rest gate it through them.
    needed = set(deliver["needs"])
    leaves = {name for name in checks if not any(name in (job.get("needs") or []) for job in ci.values())}
    assert leaves - {"deliver"} <= needed
    assert deliver["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert "workflow_call" in load(CD)["on"]


def test_cd_deploys_by_digest_and_rolls_back_on_failure() -> None:
    cd = jobs(load(CD))
    deploy = cd["deploy"]
    assert deploy["concurrency"]["cancel-in-progress"] is False
    scripts = "\n".join(step.get("run", "") for step in deploy["steps"])
    # deploy/release-stage.sh picks the image that serves (and, in the shadow stage, the one
    # that only shadows), both by digest; make manifests renders them.
    assert "deploy/release-stage.sh" in scripts
    assert 'make manifests IMAGE_REF="$IMAGE_REF" SHADOW_IMAGE_REF="$SHADOW_IMAGE_REF"' in scripts
    render = next(s for s in deploy["steps"] if "make manifests" in s.get("run", ""))
    assert render["env"] == {
        "IMAGE_REF": "${{ steps.stage.outputs.image-ref }}",
        "SHADOW_IMAGE_REF": "${{ steps.stage.outputs.shadow-image-ref }}",
    }
    assert "kubectl apply --filename build/manifests.yaml" in scripts
    assert "kubectl rollout status" in scripts
    assert "deploy/smoke-test.sh http://127.0.0.1:18080" in scripts
    rollback = [step for step in deploy["steps"] if "kubectl rollout undo" in step.get("run", "")]
    assert len(rollback) == 1 and "failure()" in rollback[0]["if"]
    # The image reference the deploy job uses is registry/repository@sha256:<digest>.
    push = "\n".join(step.get("run", "") for step in cd["push-image"]["steps"])
    assert "image=$REGISTRY/$REPOSITORY@$digest" in push
    assert "needs.deploy.result == 'failure'" in cd["restore-champion"]["if"]


# --- a deliberately bad workflow is rejected by the same checks -------------------------------

BAD_WORKFLOW = """\
name: bad
on: pull_request
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@v4
        with:
          persist-credentials: false
      - run: echo "${{ github.event.pull_request.title }}"
      - run: make deploy-everything && ./scripts/does-not-exist.sh
"""


@pytest.fixture
def bad_repo(tmp_path: Path) -> Path:
    workflow = tmp_path / ".github" / "workflows" / "bad.yaml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(BAD_WORKFLOW, encoding="utf-8")
    return tmp_path


@pytest.mark.integration  # runs zizmor
def test_bad_workflow_is_rejected_by_zizmor(bad_repo: Path) -> None:
    found = {f["ident"] for f in zizmor_findings(Path(".github/workflows/bad.yaml"), cwd=bad_repo)}
    assert {"unpinned-uses", "template-injection"} <= found


def test_bad_workflow_is_rejected_by_the_project_checks(bad_repo: Path) -> None:
    path = bad_repo / ".github" / "workflows" / "bad.yaml"
    doc = load(path)
    assert unpinned_uses(doc) == ["actions/checkout@v4"]
    assert missing_version_comments(BAD_WORKFLOW) == ["- uses: actions/checkout@v4"]
    assert interpolating_scripts(doc) == ["greet"]
    assert make_targets(doc) - makefile_targets(REPO_ROOT / "Makefile") == {"deploy-everything"}
    assert missing_paths(doc, REPO_ROOT) == ["scripts/does-not-exist.sh"]


def test_schema_rejects_a_job_without_a_runner(tmp_path: Path) -> None:
    path = tmp_path / "no-runner.yaml"
    path.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: make test\n", encoding="utf-8")
    proc = schema_check(path)
    assert proc.returncode != 0
    assert "'runs-on' is a required property" in proc.stdout
