"""Offline checks of the GitHub Actions workflows in .github/workflows.

What a broken workflow costs is a red build on GitHub at best and a leaked credential at worst,
so these checks run here, before a push, with no network:

* each workflow validates against the GitHub workflow JSON schema bundled with check-jsonschema;
* zizmor (a security linter for Actions) reports nothing, at its ``pedantic`` persona;
* actionlint (with shellcheck on every ``run:`` script) finds nothing, and rejects a broken workflow;
* every action is pinned to a full commit SHA with a ``# vX.Y.Z`` comment, no ``run:`` script
  interpolates ``${{ }}`` (values reach scripts through ``env:``), every job is time-boxed,
  checkouts keep no credentials, and permissions are least-privilege;
* every ``make`` target and every repository path a workflow refers to exists.

A deliberately bad workflow is run through the same checks to show that they reject it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.unit.workflow_checks import (
    CD,
    CI,
    WORKFLOWS,
    actionlint,
    describe,
    interpolating_scripts,
    jobs,
    load,
    make_targets,
    makefile_targets,
    missing_paths,
    missing_version_comments,
    referenced_paths,
    schema_check,
    steps,
    unpinned_uses,
    zizmor_findings,
)

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


# --- actionlint ------------------------------------------------------------------------------


@pytest.mark.integration  # runs actionlint and shellcheck
def test_actionlint_finds_nothing() -> None:
    proc = actionlint(str(CI), str(CD))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.integration  # runs actionlint and shellcheck
def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ steps.nope.outputs.x }}\n      - run: cd $UNQUOTED_DIR\n"
        "  b:\n    needs: missing-job\n    runs-on: ubuntu-24.04\n    steps:\n      - run: make lint\n",
        encoding="utf-8",
    )
    proc = actionlint(str(bad), cwd=tmp_path)
    assert proc.returncode == 1
    assert "missing-job" in proc.stdout and "SC2086" in proc.stdout, proc.stdout


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
