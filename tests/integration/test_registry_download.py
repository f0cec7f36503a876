"""Loading ``models:/name@alias`` while the alias moves: the card names the version whose weights
it holds. The previous ``_download`` fetched ``@alias``, then asked the registry for the alias
again, so a promotion in between recorded the new version beside the old weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sentiment_mlops.config import Paths, load_params
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.registry import versions as registry

pytestmark = pytest.mark.integration


def _project(root: Path, small_project: Path, model: SentimentModel) -> Paths:
    (root / "reports").mkdir(parents=True)
    shutil.copy(small_project / "params.yaml", root / "params.yaml")
    shutil.copy(small_project / "reports" / "metrics.json", root / "reports" / "metrics.json")
    model.save(root / "models" / "model")
    return Paths(root)


@pytest.fixture
def two_versions(small_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Paths, list]:
    """Two different models registered as versions 1 and 2 of a local registry; champion -> 1."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    first = SentimentModel.load(small_project / "models" / "model")
    second = SentimentModel(
        first.spec, first.weights * np.float32(1.5), first.bias, first.seen, dict(first.card)
    )
    second.card["version"] = "a" * 12  # another content hash for other weights
    projects = [
        _project(tmp_path / name, small_project, model) for name, model in (("one", first), ("two", second))
    ]
    params = load_params(projects[0].params_file)
    assert [registry.register(p, params) for p in projects] == ["1", "2"]
    registry._client(projects[0]).set_registered_model_alias(
        params.registry.model_name, registry.CHAMPION, "1"
    )
    return projects[0], [first, second]


@pytest.mark.parametrize("moment", ["during", "before"])
def test_a_promotion_during_a_download_cannot_mislabel_the_weights(
    two_versions: tuple[Paths, list], moment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    paths, (first, second) = two_versions
    name = load_params(paths.params_file).registry.model_name
    real_download = mlflow.artifacts.download_artifacts

    def promote_meanwhile(*args, **kwargs):
        client = registry._client(paths)
        if moment == "before":
            client.set_registered_model_alias(name, registry.CHAMPION, "2")
        result = real_download(*args, **kwargs)
        if moment == "during":  # the download has finished, the card is not written yet
            client.set_registered_model_alias(name, registry.CHAMPION, "2")
        return result

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", promote_meanwhile)
    out = registry.export(paths, load_params(paths.params_file), out=tmp_path / "export")
    exported = SentimentModel.load(out)
    by_version = {"1": first, "2": second}
    recorded = exported.card["registry"]["version"]
    # Whatever version the card names, the weights are that version's.
    assert exported.content_hash == by_version[recorded].content_hash
    np.testing.assert_array_equal(exported.weights, by_version[recorded].weights)
    assert recorded == "1"  # the alias was read once, before the download
    assert exported.card["registry"]["alias"] == registry.CHAMPION


def test_an_unknown_alias_is_a_registry_error(two_versions: tuple[Paths, list]) -> None:
    paths, _ = two_versions
    with pytest.raises(registry.RegistryError, match="nightly"):
        registry.load_model("models:/sentiment@nightly", paths)
