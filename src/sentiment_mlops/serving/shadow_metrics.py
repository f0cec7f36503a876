"""The shadow's metric families (docs/metrics.md, "Shadow scoring"), registered with the API's own.

Every family counts the reviews both models scored, so the champion's and the shadow's figures are
paired: the same texts, the same labels. ``role`` is ``champion`` or ``shadow``; ``model_version``
names the model that took the role (bounded: the two models a process serves, and reloads).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from sentiment_mlops.serving.series import InfoSeries, init_label_series

ROLES = ("champion", "shadow")
ERROR_STAGES = ("load", "score", "feedback")


class ShadowMetrics:
    """Agreement, per-role predictions and feedback, errors and the shadow's identity."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.agreement = Counter(
            "model_shadow_agreement",
            "Reviews scored by both models, by whether the shadow's label equals the champion's",
            ["agree"],
            registry=r,
        )
        self.predictions = Counter(
            "model_shadow_predictions",
            "Reviews scored by both models, by role, model version and predicted class",
            ["role", "model_version", "prediction"],
            registry=r,
        )
        self.feedback = Counter(
            "model_shadow_feedback",
            "Labels of reviews both models scored, counted for each role against its own prediction",
            ["role", "model_version", "predicted", "actual"],
            registry=r,
        )
        self.errors = Counter(
            "model_shadow_errors",
            "Shadow failures (never seen by a client): loading it, scoring a request, counting a label",
            ["stage"],
            registry=r,
        )
        self.info = Gauge(
            "model_shadow_info",
            "The shadow model scored beside the served one (value 1)",
            ["model_name", "version", "content_hash"],
            registry=r,
            multiprocess_mode="max",
        )
        self.ready = Gauge(
            "model_shadow_ready",
            "1 while a shadow model is loaded and scoring",
            registry=r,
            multiprocess_mode="max",
        )
        for stage in ERROR_STAGES:
            self.errors.labels(stage=stage)
        for agree in ("true", "false"):
            self.agreement.labels(agree=agree)
        self._agree = self.agreement.labels(agree="true")
        self._disagree = self.agreement.labels(agree="false")
        self._children: dict[tuple[object, ...], Any] = {}
        self._info = InfoSeries(self.info)

    def count_pairs(self, agree: int, disagree: int) -> None:
        if agree:
            self._agree.inc(agree)
        if disagree:
            self._disagree.inc(disagree)

    def count_predictions(self, role: str, version: str, positives: int, negatives: int) -> None:
        for prediction, n in (("positive", positives), ("negative", negatives)):
            if n:
                self._child(self.predictions, role, version, prediction).inc(n)

    def init_feedback(self, role: str, version: str) -> None:
        """A role's four label series at 0 when its version starts scoring."""
        init_label_series(self.feedback, role, version)

    def count_feedback(self, role: str, version: str, predicted: str, actual: str) -> None:
        self._child(self.feedback, role, version, predicted, actual).inc()

    def count_error(self, stage: str) -> None:
        self.errors.labels(stage=stage).inc()

    def set_shadow(self, name: str, version: str, content_hash: str) -> None:
        """Publish which model shadows; the previous shadow's info series drops to 0."""
        self._info.set(name, version, content_hash)
        self.ready.set(1)

    def _child(self, family: Counter, *labels: str) -> Any:
        key = (id(family), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child
