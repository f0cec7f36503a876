"""Project paths, typed parameters (params.yaml) and settings from the environment.

One source of truth for each value: hyper-parameters live in ``params.yaml``,
paths derive from the project root, endpoints and secrets come from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(ValueError):
    """A parameter file or setting is missing or invalid."""


#: Where ``sentiment export`` writes the model, relative to the project root; what ``sentiment
#: serve``, ``sentiment stack`` and the WSGI app load unless ``$SENTIMENT_MODEL_URI`` names another.
DEFAULT_MODEL_URI = "models/export"
MODEL_URI_ENV = "SENTIMENT_MODEL_URI"
#: A second model scored beside the served one on every request (``sentiment serve --shadow``);
#: unset or empty: no shadow. Its answers are logged and measured, never returned.
SHADOW_MODEL_URI_ENV = "SENTIMENT_SHADOW_MODEL_URI"
#: Where the service writes the prediction log and the commands read it, unless set otherwise.
LOG_URL_ENV = "SENTIMENT_PREDICTION_LOG"
DEFAULT_LOG_URL = "prediction-log"
#: Where the API listens unless told otherwise (loopback: a laptop, not a network).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def find_project_root(start: Path | None = None) -> Path:
    """The folder holding ``params.yaml``: ``$SENTIMENT_HOME``, else the nearest parent of ``start``."""
    env = os.environ.get("SENTIMENT_HOME")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").is_file():
            return folder
    return here


class Paths:
    """Every path the pipeline reads or writes, derived from one project root."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or find_project_root()).resolve()

    @cached_property
    def params_file(self) -> Path:
        return self.root / "params.yaml"

    @cached_property
    def data(self) -> Path:
        return self.root / "data"

    @cached_property
    def raw(self) -> Path:
        """Downloaded archives (immutable)."""
        return self.data / "raw"

    @cached_property
    def interim(self) -> Path:
        """Reviews extracted from the archive, as parquet."""
        return self.data / "interim"

    @cached_property
    def processed(self) -> Path:
        """Train / validation / test splits used by training and evaluation."""
        return self.data / "processed"

    @cached_property
    def labelled(self) -> Path:
        """Labelled review files that train beside the archive (a team's own, the feedback export)."""
        return self.data / "labelled"

    @cached_property
    def production_window(self) -> Path:
        """The newest labelled production reviews, held out from training for `sentiment compare`."""
        return self.data / "production" / "window.parquet"

    @cached_property
    def models(self) -> Path:
        return self.root / "models"

    @cached_property
    def model_dir(self) -> Path:
        """The trained model artifact (weights + card)."""
        return self.models / "model"

    @cached_property
    def export_dir(self) -> Path:
        """The model exported for serving without MLflow (what the container bakes in)."""
        return self.root / DEFAULT_MODEL_URI

    @cached_property
    def reports(self) -> Path:
        return self.root / "reports"


# --- parameters (params.yaml) ------------------------------------------------------------


class _Section(BaseModel):
    # An unknown key is an error, so a typo in params.yaml cannot pass silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    archive_url: str = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
    archive_md5: str = "7c2ac02c03563afcf9b574c7e56c153a"


class SplitParams(_Section):
    validation_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    seed: int = 42


class FeatureParams(_Section):
    ngram_max: int = Field(3, ge=1, le=3)
    hash_bits: int = Field(24, ge=10, le=26)
    binary: bool = True
    min_df: int = Field(3, ge=1)


class TrainParams(_Section):
    # Candidates searched on the validation split; the best pair is refit on all of train.
    C: list[float] = Field(default_factory=lambda: [1.0], min_length=1)
    beta: list[float] = Field(default_factory=lambda: [1.0], min_length=1)
    nb_alpha: list[float] = Field(default_factory=lambda: [1.0], min_length=1)
    # Weight of each snippet cut from a training review (slices.augment) in the fit; 0 = none.
    snippet_weight: list[float] = Field(default_factory=lambda: [0.0], min_length=1)
    # Model choice maximises validation accuracy + short_weight x the short slices' accuracy.
    short_weight: float = Field(0.0, ge=0.0)
    max_iter: int = Field(1000, ge=10)
    refit_on_full_train: bool = True
    calibrate: bool = True  # length-aware calibration fitted on validation (model/calibration.py)


class EvaluateParams(_Section):
    calibration_bins: int = Field(10, ge=2, le=100)


class RegistryParams(_Section):
    model_name: str = "sentiment"
    min_accuracy: float = Field(0.90, ge=0.0, le=1.0)
    max_regression: float = Field(0.005, ge=0.0, le=1.0)
    # Also judge the challenger on the newest labelled production window (`sentiment compare`):
    # it may trail the champion there by at most this much (None: not required).
    max_production_regression: float | None = Field(None, ge=0.0, le=1.0)
    # Short inputs (the last 10 and 20 words of each test review, evaluate's slices): a floor on
    # their accuracy and how far their share predicted positive may stray from 0.5 (None: no bound).
    min_short_accuracy: float | None = Field(None, ge=0.0, le=1.0)
    max_positive_share_drift: float | None = Field(None, ge=0.0, le=0.5)


class LabelledSource(_Section):
    """A labelled review file that trains beside the IMDB archive (see data/labelled.py)."""

    name: str
    path: str  # relative to the project root; list it under the train stage's deps in dvc.yaml
    weight: float = Field(1.0, gt=0.0, le=100.0)  # rows repeated by this factor
    optional: bool = False  # absent file: skipped, not an error (e.g. no feedback exported yet)


class SourcesParams(_Section):
    labelled: list[LabelledSource] = Field(default_factory=list)


class FeedbackParams(_Section):
    # `sentiment feedback export`: the newest part of the joined log is held out (never trained
    # on) as the production window `sentiment compare` judges the challenger on.
    holdout_fraction: float = Field(0.3, ge=0.0, lt=1.0)
    min_holdout: int = Field(100, ge=0)


class Params(_Section):
    """All of params.yaml; each pipeline stage reads only its own section."""

    data: DataParams = DataParams()
    split: SplitParams = SplitParams()
    features: FeatureParams = FeatureParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    registry: RegistryParams = RegistryParams()
    sources: SourcesParams = SourcesParams()
    feedback: FeedbackParams = FeedbackParams()
    # Validated by sentiment_mlops.autoscaling.config, which owns its keys.
    autoscaling: dict[str, Any] = Field(default_factory=dict)


def load_params(path: Path | None = None) -> Params:
    """Read and validate ``params.yaml``; raise :class:`ConfigError` naming the bad key."""
    path = path or Paths().params_file
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"parameter file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of sections")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid parameters in {path}: {problems}") from exc


# --- settings from the environment ------------------------------------------------------


def mlflow_tracking_uri(paths: Paths | None = None) -> str:
    """``$MLFLOW_TRACKING_URI``, else a local sqlite store in the project root."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    root = (paths or Paths()).root
    return f"sqlite:///{root / 'mlflow.db'}"


def mlflow_artifact_root(paths: Paths | None = None) -> str:
    """Where a local tracking store keeps artifacts (``$MLFLOW_ARTIFACT_ROOT`` overrides)."""
    return os.environ.get("MLFLOW_ARTIFACT_ROOT") or str((paths or Paths()).root / "mlartifacts")


def shadow_model_uri(env: Mapping[str, str] | None = None) -> str | None:
    """``$SENTIMENT_SHADOW_MODEL_URI`` (a model directory or registry URI), ``None`` when unset or empty."""
    env = os.environ if env is None else env
    return env.get(SHADOW_MODEL_URI_ENV, "").strip() or None


@dataclass(frozen=True)
class ServerSettings:
    """gunicorn's settings for the API. :meth:`from_env` is the one reader of ``GUNICORN_<NAME>``
    (``GUNICORN_BIND``, ``GUNICORN_WORKERS``, ...); the defaults are here and nowhere else."""

    bind: str = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
    workers: int = 2
    threads: int = 1  # 1: sync workers; more: gthread
    timeout: int = 30  # seconds before a silent worker is restarted
    graceful_timeout: int = 30  # seconds to finish requests on SIGTERM
    keepalive: int = 5
    max_requests: int = 0  # 0: never recycle a worker
    max_requests_jitter: int = -1  # -1: a tenth of max_requests

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        """The settings given in ``env`` (default ``os.environ``), the defaults for the rest."""
        env = os.environ if env is None else env
        values: dict[str, str | int] = {}
        for field in fields(cls):
            name = f"GUNICORN_{field.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            if field.type in (int, "int"):
                try:
                    values[field.name] = int(raw)
                except ValueError as exc:
                    raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
            else:
                values[field.name] = raw
        return cls(**values)  # type: ignore[arg-type]

    @property
    def jitter(self) -> int:
        """``max_requests_jitter``, or a tenth of ``max_requests`` when not set."""
        return self.max_requests // 10 if self.max_requests_jitter < 0 else self.max_requests_jitter

    def to_env(self) -> dict[str, str]:
        """These settings as the ``GUNICORN_*`` variables :meth:`from_env` reads."""
        return {f"GUNICORN_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}
