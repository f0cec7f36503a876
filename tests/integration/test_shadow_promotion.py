"""The promotion path of docs/development.md, as far as this machine runs it: a local MLflow
store, the real CLI and CD's model script (deploy/release-model.sh), a real gunicorn serving
``models:/sentiment@champion`` with ``--shadow models:/sentiment@challenger``, under load.

registered -> shadow -> (canary: tests/integration/test_canary_analysis.py) -> champion, or back:

1. v1 registered and promoted: the champion.
2. CD's shadow stage registers v2, trained on 60 reviews: it shadows, and the release of v2
   (``SHADOW_VERSION=2``) fails its shadow report (exit 2): it goes back, never champion.
3. The shadow stage registers v3, as good as v1: SIGHUP makes it the shadow; the report passes it.
   A release naming v3 for other weights is refused (their content hash differs).
4. The release of v3 (``SHADOW_VERSION=3``, the report on the same log) promotes v3 itself and
   registers nothing: one version for those weights, and the prediction log's v3 rows name the
   version that serves. SIGHUP swaps the served model under load without a failed request.
5. Rollback: ``sentiment restore-champion 1`` and SIGHUP: v1 serves again, alias and model together.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml

from tests.conftest import REPO_ROOT
from tests.integration.serving_server import ApiServer
from tests.integration.test_serving_resilience import Load, _wait_for
from tests.integration.test_shadow_scoring import replay
from tests.integration.weak_model import train_weak_project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def weak_project(small_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_weak_project(small_project, tmp_path_factory.mktemp("weak-promotion"))


def _project(small_project: Path, root: Path) -> Path:
    """The small project with a registry floor its 2,000-review model clears."""
    params = yaml.safe_load((small_project / "params.yaml").read_text())
    params["registry"]["min_accuracy"] = 0.6
    params["registry"].update({"min_short_accuracy": None, "max_positive_share_drift": None})
    root.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copytree(small_project / "data", root / "data")
    return root


def _use_model(root: Path, project: Path) -> None:
    """Put ``project``'s trained model and its evaluation where ``sentiment register`` reads them."""
    shutil.rmtree(root / "models", ignore_errors=True)
    shutil.copytree(project / "models" / "model", root / "models" / "model")
    (root / "reports").mkdir(exist_ok=True)
    shutil.copy(project / "reports" / "metrics.json", root / "reports" / "metrics.json")


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "MLFLOW_", "SENTIMENT_"))}
    env["SENTIMENT_HOME"] = str(root)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    return env


def sentiment(root: Path, *argv: str, expect: int = 0) -> str:
    result = subprocess.run(
        [str(BIN / "sentiment"), *argv],
        check=False,
        cwd=root,
        env=_env(root),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == expect, (
        f"sentiment {' '.join(argv)}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout + result.stderr


def release_model(root: Path, out: Path, *, expect: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
    """CD's promote job: ``deploy/release-model.sh OUT`` against the project's store."""
    result = subprocess.run(
        [str(REPO_ROOT / "deploy" / "release-model.sh"), str(out)],
        check=False,
        cwd=root,
        env={**_env(root), "SENTIMENT": str(BIN / "sentiment"), "PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == expect, (
        f"release-model.sh {env}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    return result


def _identity(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    lines = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    return {key.rsplit(".", 1)[-1]: value for key, value in lines.items()}


def _registry(root: Path) -> tuple[list[str], str, str]:
    """Every registered version, then the versions ``champion`` and ``challenger`` point at."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=_env(root)["MLFLOW_TRACKING_URI"])
    versions = sorted((v.version for v in client.search_model_versions("name = 'sentiment'")), key=int)
    aliases = client.get_registered_model("sentiment").aliases
    return [str(v) for v in versions], str(aliases.get("champion")), str(aliases.get("challenger"))


def _served(server: ApiServer) -> tuple[str, str]:
    version = requests.get(f"{server.url}/version", timeout=5).json()["model"]["version"]
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    shadow = [
        line
        for line in metrics.splitlines()
        if line.startswith("model_shadow_info{") and line.endswith(" 1.0")
    ]
    return version, shadow[0].split('version="')[1].split('"')[0] if shadow else ""


def _reload(server: ApiServer, champion: str, shadow: str) -> None:
    server.signal(signal.SIGHUP)
    assert _wait_for(lambda: _served(server) == (champion, shadow), 60), server.log()[-3000:]


def test_registered_shadow_champion_and_back(
    small_project: Path,
    weak_project: Path,
    tmp_path: Path,
) -> None:
    root = _project(small_project, tmp_path / "project")
    _use_model(root, small_project)
    assert "version 1 as challenger" in sentiment(root, "register")
    sentiment(root, "promote")
    _use_model(root, weak_project)
    shadow_stage = {"RELEASE_STAGE": "shadow"}
    assert _identity(release_model(root, tmp_path / "weak", **shadow_stage))["version"] == "2"
    assert _registry(root) == (["1", "2"], "1", "2")

    reviews = pd.read_parquet(root / "data" / "processed" / "test.parquet").sample(n=150, random_state=4)
    server = ApiServer(
        "models:/sentiment@champion",
        tmp_path / "api",
        workers=2,
        SENTIMENT_SHADOW_MODEL_URI="models:/sentiment@challenger",
        SENTIMENT_PREDICTION_LOG_FLUSH_SECONDS="0.5",
        **_env(root),
    )
    log = str(server.prediction_log)
    gate = ["--max-accuracy-drop", "0.02", "--min-labelled", "50"]
    shadow_gate = {"SHADOW_LOG": log, "SHADOW_MAX_ACCURACY_DROP": "0.02", "SHADOW_MIN_LABELLED": "50"}
    with server:
        assert _served(server) == ("1", "2")
        replay(server, reviews)
        time.sleep(2)  # the workers' segments are cut every 0.5 s
        # back: the weak challenger's release fails its shadow report; it is never promoted
        out = sentiment(root, "shadow", "report", "--log", log, "--shadow-version", "2", *gate, expect=2)
        assert "fails the gate" in out
        back = release_model(root, tmp_path / "weak", expect=2, SHADOW_VERSION="2", **shadow_gate)
        assert "version 2 fails its shadow report" in back.stderr and "fails the gate" in back.stderr
        assert _registry(root)[:2] == (["1", "2"], "1")

        _use_model(root, small_project)
        shadowed = _identity(release_model(root, tmp_path / "shadow", **shadow_stage))
        assert shadowed["version"] == "3"
        _reload(server, "1", "3")
        replay(server, reviews)
        time.sleep(2)
        sentiment(
            root, "shadow", "report", "--log", log, "--shadow-version", "3", "--min-agreement", "0.99", *gate
        )
        # other weights named as the version shadowed: refused before anything moves
        _use_model(root, weak_project)
        refused = release_model(root, tmp_path / "wrong", expect=2, SHADOW_VERSION="3", **shadow_gate)
        assert "the weights shadowed are not the weights being released" in refused.stderr
        assert shadowed["content-hash"] in refused.stderr
        assert _registry(root) == (["1", "2", "3"], "1", "3")
        assert not (tmp_path / "wrong").exists()

        # the release of the version shadowed: v3 itself, gated on its report, nothing registered
        _use_model(root, small_project)
        released = release_model(root, tmp_path / "release", SHADOW_VERSION="3", **shadow_gate)
        assert "reused sentiment version 3 as challenger" in released.stderr
        assert _identity(released) == shadowed
        assert _registry(root) == (["1", "2", "3"], "3", "3")

        with Load(server.url) as load:
            time.sleep(1.0)
            _reload(server, "3", "3")
            time.sleep(1.0)
            sentiment(root, "restore-champion", "1")
            _reload(server, "1", "3")
            time.sleep(1.0)
    assert load.failed == 0, load.outcomes
    assert load.versions[0] == "1" and load.versions[-1] == "1" and "3" in load.versions
