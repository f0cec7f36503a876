"""The checks behind tests/unit/test_workflows.py: each helper takes a parsed GitHub Actions
workflow (or a file) and returns the problems it finds. ``test_ci_parity`` reads the workflows
through the same loaders.
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


def actionlint(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("actionlint"), "-no-color", f"-shellcheck={tool('shellcheck')}", "-pyflakes=", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
