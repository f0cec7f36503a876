"""params.yaml validation: a typo or a bad value is an error that names the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sentiment_mlops.config import ConfigError, Paths, load_params, mlflow_artifact_root, mlflow_tracking_uri


def _write(tmp_path: Path, repo_root: Path, edit: object = None) -> Path:
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    if callable(edit):
        edit(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_repository_params_are_valid(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml")
    assert params.registry.model_name == "sentiment"
    assert 0.0 < params.registry.min_accuracy <= 1.0
    assert params.features.ngram_max in (1, 2, 3)
    assert params.train.C and params.train.beta and params.train.nb_alpha


def test_unknown_key_names_it(tmp_path: Path, repo_root: Path) -> None:
    path = _write(tmp_path, repo_root, lambda raw: raw["train"].update({"learning_rat": 0.1}))
    with pytest.raises(ConfigError, match=r"train\.learning_rat"):
        load_params(path)


def test_unknown_section_names_it(tmp_path: Path, repo_root: Path) -> None:
    path = _write(tmp_path, repo_root, lambda raw: raw.update({"trian": {"C": [1.0]}}))
    with pytest.raises(ConfigError, match="trian"):
        load_params(path)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("features", "hash_bits", 40),
        ("features", "ngram_max", 0),
        ("split", "validation_fraction", 0.9),
        ("registry", "min_accuracy", 1.5),
        ("train", "C", []),
        ("train", "max_iter", "many"),
    ],
)
def test_bad_value_names_the_key(
    tmp_path: Path, repo_root: Path, section: str, key: str, value: object
) -> None:
    path = _write(tmp_path, repo_root, lambda raw: raw[section].update({key: value}))
    with pytest.raises(ConfigError, match=rf"{section}\.{key}"):
        load_params(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="parameter file not found") as info:
        load_params(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in str(info.value)


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_params(bad)


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("")
    assert load_params(path).registry.model_name == "sentiment"


def test_paths_follow_sentiment_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_HOME", str(tmp_path))
    paths = Paths()
    assert paths.root == tmp_path.resolve()
    assert paths.model_dir == tmp_path.resolve() / "models" / "model"
    assert paths.params_file == tmp_path.resolve() / "params.yaml"


def test_mlflow_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = Paths(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ARTIFACT_ROOT", raising=False)
    assert mlflow_tracking_uri(paths) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert mlflow_artifact_root(paths) == str(tmp_path.resolve() / "mlartifacts")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", str(tmp_path / "elsewhere"))
    assert mlflow_tracking_uri(paths) == "http://127.0.0.1:5000"
    assert mlflow_artifact_root(paths) == str(tmp_path / "elsewhere")


def test_server_settings_come_from_gunicorn_variables_with_one_set_of_defaults() -> None:
    from sentiment_mlops.config import ServerSettings

    defaults = ServerSettings.from_env({})
    assert defaults == ServerSettings()
    assert defaults.jitter == 0  # no recycling, no jitter
    given = ServerSettings.from_env(
        {"GUNICORN_WORKERS": "4", "GUNICORN_MAX_REQUESTS": "1000", "GUNICORN_BIND": ""}
    )
    assert (given.workers, given.max_requests, given.jitter, given.bind) == (4, 1000, 100, defaults.bind)
    assert ServerSettings.from_env(given.to_env()) == given  # what serve and the stack hand to gunicorn


def test_a_bad_gunicorn_variable_is_named() -> None:
    from sentiment_mlops.config import ConfigError, ServerSettings

    with pytest.raises(ConfigError, match="GUNICORN_TIMEOUT must be an integer, got 'soon'"):
        ServerSettings.from_env({"GUNICORN_TIMEOUT": "soon"})


def test_the_export_folder_is_the_default_model_uri(tmp_path: Path) -> None:
    from sentiment_mlops.config import DEFAULT_MODEL_URI

    assert Paths(tmp_path).export_dir == tmp_path / DEFAULT_MODEL_URI
