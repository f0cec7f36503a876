"""Registering a model trained elsewhere: delivery registers CI's model in the team's MLflow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sentiment_mlops.config import Paths, load_params
from sentiment_mlops.registry import versions as registry

pytestmark = pytest.mark.integration


@pytest.fixture
def project(small_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A project holding only what CI hands to delivery: params, the model, the test metrics."""
    root = tmp_path / "delivery"
    (root / "models").mkdir(parents=True)
    shutil.copy(small_project / "params.yaml", root / "params.yaml")
    shutil.copytree(small_project / "models" / "model", root / "models" / "model")
    (root / "reports").mkdir()
    shutil.copy(small_project / "reports" / "metrics.json", root / "reports" / "metrics.json")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'team.db'}")
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", str(tmp_path / "team-artifacts"))
    return Paths(root)


def test_a_model_trained_elsewhere_is_published_then_registered(project: Paths) -> None:
    from mlflow import MlflowClient

    params = load_params(project.params_file)
    version = registry.register(project, params)

    client = MlflowClient()
    registered = client.get_model_version_by_alias(params.registry.model_name, registry.CHALLENGER)
    assert str(registered.version) == version == "1"
    run = client.get_run(registered.run_id)
    accuracy = json.loads((project.reports / "metrics.json").read_text())["accuracy"]
    assert run.data.metrics["test_accuracy"] == pytest.approx(accuracy)
    assert run.data.tags["source_run_id"] == "untracked"  # the fixture trained without tracking
    # the registered model is the one on disk, and it loads from the registry
    loaded = registry.load_model(f"models:/{params.registry.model_name}@{registry.CHALLENGER}", project)
    texts = ["A wonderful film.", "A dreadful bore."]
    on_disk = registry.load_model(project.model_dir)
    assert loaded.predict_proba(texts).tolist() == on_disk.predict_proba(texts).tolist()


def test_registering_an_unevaluated_model_is_refused(project: Paths) -> None:
    (project.reports / "metrics.json").unlink()
    with pytest.raises(registry.RegistryError, match=r"metrics\.json not found"):
        registry.register(project, load_params(project.params_file))
