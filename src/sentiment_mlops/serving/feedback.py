"""Prediction ids and ``POST /v1/feedback``: labels that arrive after the prediction.

A prediction id is ``<request id>.<index>.<p|n>.<model version>``: it names the request and the
item, and carries the predicted class and the model that answered. So any worker of any pod can
count a label against its prediction at once (``model_feedback_total{model_version, predicted,
actual}``: live accuracy) without a shared store; the exact join with the logged text happens
offline (``sentiment feedback export``). An id the service cannot read, or one labelled twice in the
same worker, is accepted, logged and counted as unmatched, never an error: the export decides.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from sentiment_mlops.serving.errors import InvalidInputError

MAX_FEEDBACK_ITEMS = 1000
MAX_ID_CHARS = 256
_VERSION_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_ID = re.compile(r"^(?P<request>.+)\.(?P<index>\d{1,6})\.(?P<cls>[pn])\.(?P<version>[A-Za-z0-9_-]{1,64})$")
CLASSES = {"p": "positive", "n": "negative"}


def version_token(version: str) -> str:
    """The model version as it appears in ids (only letters, digits, ``_`` and ``-``)."""
    return _VERSION_SAFE.sub("_", version)[:64] or "unversioned"


def prediction_ids(request_id: str, probabilities: list[float], version: str) -> list[str]:
    token = version_token(version)
    return [f"{request_id}.{i}.{'p' if p >= 0.5 else 'n'}.{token}" for i, p in enumerate(probabilities)]


def parse_id(prediction_id: str) -> tuple[str, str] | None:
    """``(predicted class, model version)`` of an id this service issued, else ``None``."""
    match = _ID.match(prediction_id)
    if match is None:
        return None
    return CLASSES[match["cls"]], match["version"]


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
    label: Literal["negative", "positive"]


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    feedback: Annotated[list[FeedbackItem], Field(min_length=1, max_length=MAX_FEEDBACK_ITEMS)]


class FeedbackRequest(RootModel[FeedbackItem | FeedbackBatch]):
    """The body of ``POST /v1/feedback``, as the OpenAPI document states it."""


class FeedbackResponse(BaseModel):
    accepted: int = Field(description="Labels accepted and logged (all of them).")
    matched: int = Field(description="Counted live against their prediction.")
    unknown: int = Field(description="Ids this service did not issue.")
    duplicate: int = Field(description="Ids already labelled in this worker.")


def parse_feedback(body: Any) -> list[FeedbackItem]:
    """One ``{id, label}`` object or ``{"feedback": [{id, label}, ...]}``; 422 naming the problem."""
    if not isinstance(body, dict):
        raise InvalidInputError("body must be a JSON object: {id, label} or {feedback: [{id, label}, ...]}")
    try:
        if "feedback" in body:
            return FeedbackBatch.model_validate(body).feedback
        return [FeedbackItem.model_validate(body)]
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise InvalidInputError(f"{where}: {err['msg']}") from None


class FeedbackCounter:
    """Counts labels live; remembers the ids this worker has seen labelled (bounded) to count a
    duplicate once, not as a second vote. ``versions``: model versions this process has served
    (the label of the metric is bounded by them, whatever ids clients send)."""

    def __init__(self, metrics: Any, remember: int = 100_000) -> None:
        self.metrics = metrics
        self.remember = remember
        self.versions: set[str] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()

    def served(self, version: str) -> None:
        token = version_token(version)
        self.versions.add(token)
        self.metrics.init_feedback(token)

    def count(self, items: list[FeedbackItem]) -> dict[str, int]:
        matched = unknown = duplicate = 0
        for item in items:
            parsed = parse_id(item.id)
            if parsed is None or parsed[1] not in self.versions:
                unknown += 1
                continue
            if item.id in self._seen:
                duplicate += 1
                continue
            self._seen[item.id] = None
            if len(self._seen) > self.remember:
                self._seen.popitem(last=False)
            predicted, version = parsed
            self.metrics.feedback.labels(version, predicted, item.label).inc()
            matched += 1
        if unknown:
            self.metrics.feedback_unmatched.labels(reason="unknown_id").inc(unknown)
        if duplicate:
            self.metrics.feedback_unmatched.labels(reason="duplicate").inc(duplicate)
        return {"accepted": len(items), "matched": matched, "unknown": unknown, "duplicate": duplicate}
