"""The model being served, swappable at runtime (reload) without a request ever seeing half a model."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.errors import ModelNotReadyError
from sentiment_mlops.serving.feedback import FeedbackCounter, FeedbackItem
from sentiment_mlops.serving.metrics import Metrics
from sentiment_mlops.serving.prediction_log import PredictionLog

log = logging.getLogger(__name__)

WARMUP_TEXTS = ("A warm-up review: the acting was great, the plot was not!", "Terrible. Boring?")


@dataclass(frozen=True)
class ModelInfo:
    """Facts about the served model, computed once per load (the hot path reads them)."""

    name: str
    version: str  # the team registry's version (the content hash for a model from no registry)
    content_hash: str
    alias: str
    featurizer_version: str
    baseline_positive_share: float | None
    validation_accuracy: float | None = None

    @property
    def ref(self) -> dict[str, str]:
        """The model's identity as every answer states it: registry version and content hash."""
        return {"name": self.name, "version": self.version, "content_hash": self.content_hash}

    @classmethod
    def of(cls, model: SentimentModel) -> ModelInfo:
        card = model.card
        registry: dict[str, Any] = card.get("registry") or {}
        baseline = (card.get("baseline") or {}).get("positive_share")
        validation = (card.get("validation") or {}).get("accuracy")
        return cls(
            name=model.name,
            version=model.version,
            content_hash=model.content_hash,
            alias=str(registry.get("alias") or "none"),
            featurizer_version=str((card.get("featurizer") or {}).get("version", "unknown")),
            baseline_positive_share=float(baseline) if baseline is not None else None,
            validation_accuracy=float(validation) if validation is not None else None,
        )


class Shadowing(Protocol):
    """What the request path asks of a shadow model (:class:`.shadow.Shadow`)."""

    def score(self, texts: list[str], probabilities: list[float], ids: list[str], route: str) -> None: ...

    def count_feedback(self, items: list[FeedbackItem]) -> None: ...

    def champion_serves(self, version: str) -> None: ...

    def reload(self) -> bool: ...


def warm_up(model: SentimentModel) -> None:
    """Score and explain once, so the kernels and the model's weight table are ready before a request."""
    model.score(list(WARMUP_TEXTS))
    model.explain(WARMUP_TEXTS[0], top_k=3)


class ModelState:
    """Holds ``(model, info)`` as one tuple, replaced atomically on reload; and the shadow, if any
    (``shadow``: scored beside the model on every request, reloaded with it)."""

    def __init__(
        self,
        model: SentimentModel | None,
        metrics: Metrics,
        uri: str | None = None,
        prediction_log: PredictionLog | None = None,
    ) -> None:
        self.metrics = metrics
        self.uri = uri
        self.prediction_log = prediction_log
        self.feedback = FeedbackCounter(metrics)
        self._lock = threading.Lock()
        self._current: tuple[SentimentModel, ModelInfo] | None = None
        self.shadow: Shadowing | None = None
        if model is not None:
            self.install(model)

    @property
    def ready(self) -> bool:
        return self._current is not None

    def attach_shadow(self, shadow: Shadowing) -> None:
        """Score ``shadow`` beside the served model from now on (and beside every model it loads)."""
        with self._lock:
            self.shadow = shadow
            if self._current is not None:
                shadow.champion_serves(self._current[1].version)

    def get(self) -> tuple[SentimentModel, ModelInfo]:
        current = self._current
        if current is None:
            raise ModelNotReadyError("no model is loaded yet")
        return current

    def install(self, model: SentimentModel) -> ModelInfo:
        """Warm ``model`` up, then make it the one that serves."""
        warm_up(model)
        info = ModelInfo.of(model)
        with self._lock:
            self._current = (model, info)
            self.metrics.set_model(
                info.name,
                info.version,
                info.content_hash,
                info.alias,
                info.featurizer_version,
                info.baseline_positive_share,
            )
            self.feedback.served(info.version)  # labels for its ids count live from now on
            if self.shadow is not None:
                self.shadow.champion_serves(info.version)
            if info.validation_accuracy is not None:
                self.metrics.validation_accuracy.set(info.validation_accuracy)
        return info

    def reload(self) -> bool:
        """Load the model again from ``uri``, then the shadow from its own; on failure keep serving
        the current one (and a shadow that fails to reload keeps the previous shadow)."""
        ok = self._reload_model()
        if self.shadow is not None:
            self.shadow.reload()
        return ok

    def _reload_model(self) -> bool:
        from sentiment_mlops.registry.versions import load_model

        if not self.uri:
            log.error("model reload requested but the model URI is unknown")
            self.metrics.reloads.labels(outcome="failure").inc()
            return False
        try:
            info = self.install(load_model(self.uri))
        except Exception:
            log.exception("model reload from %s failed; still serving the previous model", self.uri)
            self.metrics.reloads.labels(outcome="failure").inc()
            return False
        self.metrics.reloads.labels(outcome="success").inc()
        log.info("model reloaded from %s: %s version %s", self.uri, info.name, info.version)
        return True
