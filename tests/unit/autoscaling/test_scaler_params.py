"""The predictive scaler runs on params.yaml's autoscaling section, in the image as on a laptop.

The scaler image used to ship no params.yaml, and the command then fell back silently to the
code defaults (min/max replicas 1/30, scale-down 100%) instead of what the simulator evaluated
and the manifests were sized from (2/20, 25%)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sentiment_mlops.autoscaling import server
from sentiment_mlops.autoscaling.commands import app
from sentiment_mlops.autoscaling.config import AutoscalingParams
from tests.conftest import REPO_ROOT
from tests.unit.test_dockerfile import instructions

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile.scaler"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[AutoscalingParams]:
    """The parameters ``sentiment autoscale scaler`` would serve with (the server is not started)."""
    calls: list[AutoscalingParams] = []
    monkeypatch.setattr(server, "serve", lambda cfg, **_kw: calls.append(cfg))
    return calls


def test_the_scaler_serves_params_yaml(monkeypatch: pytest.MonkeyPatch, served: list) -> None:
    monkeypatch.setenv("SENTIMENT_HOME", str(REPO_ROOT))
    result = CliRunner().invoke(app, ["scaler", "--host", "127.0.0.1"])
    assert result.exit_code == 0, result.output
    expected = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["autoscaling"]
    (cfg,) = served
    assert cfg.model_dump() | expected == cfg.model_dump()  # every key params.yaml sets is served


def test_without_params_yaml_the_scaler_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, served: list, tmp_path: Path
) -> None:
    monkeypatch.setenv("SENTIMENT_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["scaler", "--host", "127.0.0.1"])
    assert result.exit_code == 2
    assert "params.yaml" in result.output
    assert served == []  # before: it served the code defaults


def _ignored(path: str, dockerignore: str) -> bool:
    """Docker's rule: the last matching pattern decides; ``!pattern`` re-includes."""
    ignored = False
    for line in dockerignore.splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.removeprefix("!").rstrip("/")):
            ignored = not negate
    return ignored


def params_problems(dockerfile: str, dockerignore: str) -> list[str]:
    """Where the scaler image would not find the repository's params.yaml."""
    steps = instructions(dockerfile)
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    copies = [args.split() for k, args in final if k == "COPY" and not args.startswith("--from")]
    dests = [words[-1] for words in copies if "params.yaml" in words[:-1]]
    if not dests:
        return ["the final stage does not copy params.yaml"]
    env = " ".join(args for k, args in final if k == "ENV")
    home = next((w.split("=", 1)[1] for w in env.split() if w.startswith("SENTIMENT_HOME=")), None)
    workdirs = [args for k, args in final if k == "WORKDIR"]
    root = home or (workdirs[-1] if workdirs else "/")
    found = []
    if f"{root.rstrip('/')}/params.yaml" not in dests and root not in dests:
        found.append(f"params.yaml is copied to {dests}, the scaler looks in {root}")
    if _ignored("params.yaml", dockerignore):
        found.append(".dockerignore keeps params.yaml out of the build context")
    return found


def test_the_scaler_image_ships_params_yaml_where_the_command_reads_it() -> None:
    dockerignore = (REPO_ROOT / ".dockerignore").read_text()
    assert params_problems(DOCKERFILE.read_text(), dockerignore) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d, i: (d.replace("COPY params.yaml /app/params.yaml\n", ""), i), "does not copy"),
        (
            lambda d, i: (d.replace("COPY params.yaml /app/params.yaml", "COPY params.yaml /opt/"), i),
            "looks in",
        ),
        (lambda d, i: (d, i.replace("!params.yaml\n", "")), ".dockerignore"),
    ],
    ids=["no-copy (the previous image)", "elsewhere", "ignored"],
)
def test_an_image_without_params_yaml_is_caught(change, problem: str) -> None:
    dockerfile, dockerignore = DOCKERFILE.read_text(), (REPO_ROOT / ".dockerignore").read_text()
    broken = change(dockerfile, dockerignore)
    assert broken != (dockerfile, dockerignore), "the edit did not apply: update it with the Dockerfile"
    assert any(problem in p for p in params_problems(*broken))
