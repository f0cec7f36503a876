"""The MLflow model registry: register a challenger, promote it past the quality gate, export it.

Aliases, not stages: ``challenger`` marks the newest registered version, ``champion`` the one
that serves. Promotion moves ``champion`` only if the challenger clears the gate in params.yaml:
test accuracy, no regression against the champion, the short-input slices (accuracy floor and
predicted-positive share near 0.5) and, when required, the production window.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from sentiment_mlops.config import Params, Paths
from sentiment_mlops.files import replace_dir
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.registry.gate import SHORT, GateDecision, GateFailedError, decide, production_gate

__all__ = ["CHALLENGER", "CHAMPION", "GateDecision", "GateFailedError", "RegistryError", "decide"]

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"


class RegistryError(RuntimeError):
    """The registry lacks what was asked for (no run, no such alias, no such version)."""


def _short_metrics(client: Any, run_id: str) -> dict[str, tuple[float, float]] | None:
    """The run's test accuracy and positive share on each short slice; ``None`` if any is missing."""
    metrics = client.get_run(run_id).data.metrics
    keys = {name: (f"test_slices.{name}.accuracy", f"test_slices.{name}.positive_share") for name in SHORT}
    if any(k not in metrics for pair in keys.values() for k in pair):
        return None
    return {name: (float(metrics[a]), float(metrics[b])) for name, (a, b) in keys.items()}


def _client(paths: Paths) -> Any:
    from mlflow import MlflowClient

    from sentiment_mlops.registry import tracking

    tracking.connect(paths)
    return MlflowClient()


def _alias_version(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _test_accuracy(client: Any, run_id: str) -> float:
    metrics = client.get_run(run_id).data.metrics
    if "test_accuracy" not in metrics:
        raise RegistryError(f"MLflow run {run_id} has no test_accuracy: run `sentiment evaluate` first")
    return float(metrics["test_accuracy"])


def _run_exists(client: Any, run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
    except MlflowException:
        return False
    return True


def register(paths: Paths, params: Params) -> str:
    """Register the trained model as a new version with alias ``challenger``.

    The model's own training run is registered when this tracking server holds it. A model trained
    elsewhere (CI's pipeline job tracks locally, delivery registers in the team's server) is first
    published here as a new run carrying its card, its test metrics from ``reports/metrics.json``
    and the model, so the gate compares like with like.
    """
    import mlflow

    model = SentimentModel.load(paths.model_dir)
    run_id = str(model.card.get("mlflow_run_id") or "")
    metrics_file = paths.reports / "metrics.json"
    missing_metrics = f"{metrics_file} not found: run `sentiment evaluate` before registering"
    if not run_id and not metrics_file.is_file():
        raise RegistryError(missing_metrics)  # before the tracking store is opened (or created)
    client = _client(paths)
    if not run_id or not _run_exists(client, run_id):
        from sentiment_mlops.registry import tracking

        if not metrics_file.is_file():
            raise RegistryError(missing_metrics)
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        run_id = tracking.publish(paths, model, metrics, source_run_id=run_id or None)
        log.info("published the model trained elsewhere as run %s", run_id)
    name = params.registry.model_name
    _test_accuracy(client, run_id)  # only evaluated models are registered
    version = mlflow.register_model(f"runs:/{run_id}/model", name)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    client.set_model_version_tag(name, version.version, "model_version_hash", model.card.get("version", ""))
    log.info("registered %s version %s (alias %s)", name, version.version, CHALLENGER)
    return str(version.version)


def reuse(paths: Paths, params: Params, version: str) -> str:
    """Point ``challenger`` at the registered ``version`` instead of registering the trained model
    again; return its content hash.

    The release after a shadow stage: the version the shadow stage registered is the one its
    prediction log rows name and the one to promote, so the same weights never become a second
    version. Refused (:class:`RegistryError`) unless ``version`` holds the trained model's weights,
    by content hash: otherwise the weights shadowed are not the weights being released.
    """
    from mlflow.exceptions import MlflowException

    model = SentimentModel.load(paths.model_dir)
    client = _client(paths)
    name = params.registry.model_name
    try:
        registered = client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"registered model {name!r} has no version {version!r}") from exc
    # The version's tag, else its run's (both written at registration; the run's is older).
    shadowed = registered.tags.get("model_version_hash") or client.get_run(registered.run_id).data.tags.get(
        "model_version_hash", ""
    )
    if shadowed != model.content_hash:
        raise RegistryError(
            f"{name} version {version} holds weights {shadowed or '(no content hash)'}, but "
            f"{paths.model_dir} holds {model.content_hash}: the weights shadowed are not the weights "
            "being released (release them through a shadow stage of their own, or unset the shadow version)"
        )
    _test_accuracy(client, registered.run_id)  # only evaluated models are promoted
    client.set_registered_model_alias(name, CHALLENGER, version)
    log.info("reused %s version %s (content hash %s) as %s", name, version, shadowed, CHALLENGER)
    return shadowed


def promote(paths: Paths, params: Params) -> GateDecision:
    """Move ``champion`` to the challenger if it clears the gate; raise :class:`GateFailedError` otherwise."""
    client = _client(paths)
    name = params.registry.model_name
    challenger = _alias_version(client, name, CHALLENGER)
    if challenger is None:
        raise RegistryError(
            f"registered model {name!r} has no {CHALLENGER!r} alias: run `sentiment register`"
        )
    champion = _alias_version(client, name, CHAMPION)
    decision = decide(
        params,
        (str(challenger.version), _test_accuracy(client, challenger.run_id)),
        (str(champion.version), _test_accuracy(client, champion.run_id)) if champion else None,
        _short_metrics(client, challenger.run_id),
    )
    if champion is not None and params.registry.max_production_regression is not None:
        ok, why = production_gate(paths, params, str(challenger.tags.get("model_version_hash", "")))
        decision = replace(decision, passed=decision.passed and ok, production=why)
    if not decision.passed:
        raise GateFailedError(decision.explain())
    client.set_registered_model_alias(name, CHAMPION, challenger.version)
    log.info("promoted %s version %s to %s", name, challenger.version, CHAMPION)
    return decision


def restore_champion(paths: Paths, params: Params, version: str) -> None:
    """Point ``champion`` back to ``version`` after the deployment was rolled back to the image that
    serves it; no gate (it served before). An empty ``version`` (there was no champion before the
    failed release) removes the alias. An unknown version is a :class:`RegistryError`."""
    from mlflow.exceptions import MlflowException

    client = _client(paths)
    name = params.registry.model_name
    if not version:
        if _alias_version(client, name, CHAMPION) is not None:
            client.delete_registered_model_alias(name, CHAMPION)
        log.info("removed %s's %s alias (there was none before)", name, CHAMPION)
        return
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"registered model {name!r} has no version {version!r}") from exc
    client.set_registered_model_alias(name, CHAMPION, version)
    log.info("restored %s version %s as %s", name, version, CHAMPION)


def load_model(uri: str | Path, paths: Paths | None = None) -> SentimentModel:
    """A model from a local directory or the registry (``models:/sentiment@champion``, ``runs:/...``)."""
    uri = str(uri)
    if not uri.startswith(("models:/", "runs:/")):
        return SentimentModel.load(Path(uri))
    with tempfile.TemporaryDirectory(prefix="sentiment-model-") as tmp:
        model = SentimentModel.load(_download(uri, Path(tmp), paths or Paths()))
    return model


def _resolve(client: Any, uri: str) -> tuple[str, dict[str, Any]]:
    """Pin ``models:/name@alias`` (or ``models:/name/version``) to one version, asked once; return
    the URI of that version and the registry facts to record with it."""
    from mlflow.exceptions import MlflowException

    spec = uri.removeprefix("models:/")
    name, sep, rest = spec.partition("@") if "@" in spec else spec.partition("/")
    if not name or not sep or not rest:
        raise RegistryError(f"{uri}: expected models:/<name>@<alias> or models:/<name>/<version>")
    alias = rest if "@" in spec else None
    try:
        if alias:
            version = client.get_model_version_by_alias(name, alias)
        else:
            version = client.get_model_version(name, rest)
    except MlflowException as exc:
        raise RegistryError(f"{uri}: {exc.message}") from exc
    facts = {
        "uri": uri,
        "name": name,
        "version": str(version.version),
        "alias": alias,
        "run_id": version.run_id,
    }
    return f"models:/{name}/{version.version}", facts


def _download(uri: str, dest: Path, paths: Paths) -> Path:
    """Download a registered model's weights and card to ``dest``; record the registry facts in the card.

    An alias is resolved to its version first and that version is downloaded: a promotion while
    the download runs cannot make the card name another version than the weights it holds.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    from sentiment_mlops.registry.pyfunc import MODEL_ARTIFACT

    registry: dict[str, Any] = {"uri": uri}
    if uri.startswith("models:/"):
        uri, registry = _resolve(_client(paths), uri)
    else:
        _client(paths)  # point MLflow at the tracking server for runs:/ URIs
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest / "pyfunc")))
    # MLflow stores an artifact under its source folder's name; MLmodel maps our key to that path.
    try:
        artifacts = Model.load(str(local)).flavors["python_function"].get("artifacts") or {}
    except (MlflowException, OSError, KeyError) as exc:
        raise RegistryError(f"{uri} is not a pyfunc model: {exc}") from exc
    relative = (artifacts.get(MODEL_ARTIFACT) or {}).get("path")
    model_dir = local / relative if relative else local / "artifacts" / MODEL_ARTIFACT
    if not model_dir.is_dir():
        raise RegistryError(f"{uri} holds no {MODEL_ARTIFACT!r} artifact: not a sentiment model")
    model = SentimentModel.load(model_dir)
    model.card["registry"] = registry
    model.write_card(model_dir)
    return model_dir


def export(paths: Paths, params: Params, uri: str | None = None, out: Path | None = None) -> Path:
    """Write the model at ``uri`` (default: the champion) as a plain directory the service loads offline."""
    uri = uri or f"models:/{params.registry.model_name}@{CHAMPION}"
    out = out or paths.export_dir
    with tempfile.TemporaryDirectory(prefix="sentiment-export-") as tmp:
        model_dir = _download(uri, Path(tmp), paths)
        SentimentModel.load(model_dir)  # refuse to publish anything that does not load
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        shutil.copytree(model_dir, staging, dirs_exist_ok=True)
        replace_dir(staging, out)
    log.info("exported %s to %s", uri, out)
    return out
