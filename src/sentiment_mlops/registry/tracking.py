"""MLflow tracking: where runs go, and what a training or evaluation run records."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentiment_mlops.config import Params, Paths, mlflow_artifact_root, mlflow_tracking_uri

if TYPE_CHECKING:
    from sentiment_mlops.model.artifact import SentimentModel

log = logging.getLogger(__name__)

EXPERIMENT = "sentiment"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the sentiment_mlops package


def connect(paths: Paths) -> str:
    """Point MLflow at ``$MLFLOW_TRACKING_URI`` (or the local store); writes nothing."""
    import mlflow

    uri = mlflow_tracking_uri(paths)
    mlflow.set_tracking_uri(uri)
    return uri


def configure(paths: Paths) -> str:
    """:func:`connect`, then make sure the experiment runs are logged to exists."""
    import mlflow

    uri = connect(paths)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        # A local store keeps artifacts in the project folder; a team server decides for itself.
        location = None if uri.startswith("http") else Path(mlflow_artifact_root(paths)).as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return uri


def git_commit(root: Path) -> str:
    """The checked-out commit (with ``-dirty`` if the tree has changes), or ``unknown``."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "numpy", "pandas", "pyyaml", "pydantic")]


def log_model(model_dir: Path) -> None:
    """Log the model directory as a pyfunc named ``model`` in the active run."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from sentiment_mlops.registry.pyfunc import MODEL_ARTIFACT

    example = pd.DataFrame({"text": ["A moving, beautifully acted film.", "Dull and far too long."]})
    output = pd.DataFrame({"label": ["positive", "negative"], "probability": [0.9, 0.1]})
    # Ship the package's source with the model; without byte-code caches or compiled extensions,
    # which belong to this machine only. The copy scores with the compiled kernels of the installed
    # package (model/kernels.py finds them and logs it); where none is installed it fails and says
    # how to fix it, or scores with the slow reference when SENTIMENT_KERNELS=python asks for it.
    code_dir = Path(tempfile.mkdtemp(prefix="sentiment-code-"))
    try:
        shutil.copytree(
            PACKAGE_DIR, code_dir / PACKAGE_DIR.name, ignore=shutil.ignore_patterns("__pycache__", "*.so")
        )
        mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PACKAGE_DIR / "registry" / "mlflow_model.py"),
            artifacts={MODEL_ARTIFACT: str(model_dir)},
            code_paths=[str(code_dir / PACKAGE_DIR.name)],
            signature=infer_signature(example, output),
            input_example=example,
            pip_requirements=_requirements(),
        )
    finally:
        shutil.rmtree(code_dir, ignore_errors=True)


def log_training(paths: Paths, params: Params, model: SentimentModel, report: dict[str, Any]) -> str:
    """Record a training run (parameters, validation metrics, data checksum, commit, model); return its id."""
    import mlflow

    configure(paths)
    with mlflow.start_run(run_name=f"train-{model.version}") as run:
        mlflow.set_tags(
            {
                "git_commit": git_commit(paths.root),
                "training_data_sha256": model.card["training_data_sha256"],
                "model_version_hash": model.version,
                "featurizer_version": model.spec.version,
            }
        )
        flat = {f"features.{k}": v for k, v in params.features.model_dump().items()}
        flat.update({f"chosen.{k}": v for k, v in model.card["chosen"].items()})
        flat.update(
            {
                "grid.C": params.train.C,
                "grid.nb_alpha": params.train.nb_alpha,
                "grid.beta": params.train.beta,
                "min_df": params.features.min_df,
            }
        )
        for source in model.card.get("sources") or []:  # each labelled file that trained beside IMDB
            flat[f"source.{source['name']}.weight"] = source["weight"]
            mlflow.set_tags(
                {
                    f"source.{source['name']}.sha256": source["sha256"],
                    f"source.{source['name']}.rows": str(source["rows"]),
                }
            )
        mlflow.log_params(flat)
        mlflow.log_metrics(
            {
                "validation_accuracy": model.card["validation"]["accuracy"],
                "validation_log_loss": model.card["validation"]["log_loss"],
                "weights_nonzero": float(model.card["weights_nonzero"]),
                "baseline_positive_share": model.card["baseline"]["positive_share"],
            }
        )
        mlflow.log_dict(report, "train_report.json")
        log_model(paths.model_dir)
        log.info("tracked training run %s at %s", run.info.run_id, mlflow.get_tracking_uri())
        return str(run.info.run_id)


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    """Nested metrics (``reports/metrics.json``'s ``slices``) as dotted names."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in _flat(value).items()})
        else:
            out[key] = float(value)
    return out


def publish(
    paths: Paths, model: SentimentModel, test_metrics: dict[str, Any], source_run_id: str | None
) -> str:
    """Record a model trained elsewhere as a run of this server (card, test metrics, model); return its id."""
    import mlflow

    configure(paths)
    with mlflow.start_run(run_name=f"publish-{model.version}") as run:
        mlflow.set_tags(
            {
                "git_commit": git_commit(paths.root),
                "training_data_sha256": str(model.card.get("training_data_sha256", "")),
                "model_version_hash": model.version,
                "featurizer_version": model.spec.version,
                "source_run_id": source_run_id or "untracked",
            }
        )
        mlflow.log_params({f"chosen.{k}": v for k, v in model.card.get("chosen", {}).items()})
        validation = model.card.get("validation", {})
        mlflow.log_metrics({f"validation_{k}": float(v) for k, v in validation.items()})
        mlflow.log_metrics({f"test_{k}": v for k, v in _flat(test_metrics).items()})
        mlflow.log_dict(model.card, "model_card.json")
        log_model(paths.model_dir)
        return str(run.info.run_id)


def log_evaluation(paths: Paths, run_id: str, metrics: dict[str, Any], artifacts: list[Path]) -> None:
    """Add test-set metrics and plots to the training run ``run_id``."""
    import mlflow

    configure(paths)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"test_{k}": v for k, v in _flat(metrics).items()})
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="evaluation")
