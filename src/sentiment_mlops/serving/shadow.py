"""Shadow scoring: a second model scores every request beside the served one; only the served
model (the champion) answers.

The shadow scores the same texts right after the champion (one more kernel call per request). Its
rows go to the prediction log with ``role=shadow`` under the champion's prediction id, so a label
sent for that id judges both models: exactly, offline, by ``sentiment shadow report``. Live, each
worker remembers the shadow's answer for its recent ids (bounded) and counts a label for both roles
when the label reaches the worker that scored it (``model_shadow_feedback_total``): a random,
paired sample of the labels, the same one for both models.

A shadow that fails to load or to score is logged and counted (``model_shadow_errors_total``);
the response never waits for it, never fails because of it and never changes with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from sentiment_mlops.data.log_format import CHAMPION, SHADOW
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.feedback import FeedbackItem, parse_id, version_token
from sentiment_mlops.serving.metrics import Metrics
from sentiment_mlops.serving.prediction_log import PredictionLog
from sentiment_mlops.serving.state import ModelInfo, warm_up

log = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 60.0  # a shadow failing on every request logs once a minute, counts every time


class Shadow:
    """The challenger beside the champion: loaded from ``uri``, reloaded with it (SIGHUP)."""

    def __init__(
        self, uri: str, metrics: Metrics, prediction_log: PredictionLog | None, remember: int = 100_000
    ) -> None:
        self.uri = uri
        self.metrics = metrics.shadow
        self.prediction_log = prediction_log
        self.remember = remember
        self._lock = threading.Lock()
        self._current: tuple[SentimentModel, ModelInfo, tuple[tuple[str, str], ...]] | None = None
        # prediction id -> (the shadow's predicted class, its version), for live feedback
        self._answers: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._logged_at = -LOG_EVERY_SECONDS

    @property
    def ready(self) -> bool:
        return self._current is not None

    @property
    def info(self) -> ModelInfo | None:
        current = self._current
        return current[1] if current else None

    def load(self) -> bool:
        """(Re)load the shadow from ``uri``; on failure keep the previous one (or none), count it."""
        from sentiment_mlops.registry.versions import load_model

        try:
            model = load_model(self.uri)
            warm_up(model)
            info = ModelInfo.of(model)
        except Exception:
            kept = "keeping the previous shadow" if self._current else "serving without a shadow"
            log.exception("shadow model from %s failed to load; %s", self.uri, kept)
            self.metrics.count_error("load")
            if self._current is None:
                self.metrics.ready.set(0)
            return False
        token = version_token(info.version)
        # one shared tuple per class: remembering an answer allocates nothing per review
        answers = (("negative", token), ("positive", token))
        self._current = (model, info, answers)
        self.metrics.set_shadow(info.name, info.version, info.content_hash)
        self.metrics.init_feedback(SHADOW, token)
        log.info("shadow model loaded from %s: %s version %s", self.uri, info.name, info.version)
        return True

    reload = load

    def champion_serves(self, version: str) -> None:
        """Expose the champion's label series at 0 when a champion version starts serving."""
        self.metrics.init_feedback(CHAMPION, version_token(version))

    def score(self, texts: list[str], probabilities: list[float], ids: list[str], route: str) -> None:
        """Score ``texts`` with the shadow, compare with the champion's ``probabilities``, log and
        count. Never raises: the champion's answer is already made."""
        current = self._current
        if current is None:
            return
        model, info, answers = current
        try:
            scored = model.score_lists(texts)
            shadow_p = scored.probabilities
            agree = champion_pos = shadow_pos = 0
            remembered = self._answers
            with self._lock:
                for prediction_id, c, s in zip(ids, probabilities, shadow_p, strict=True):
                    c_pos, s_pos = c >= 0.5, s >= 0.5
                    agree += c_pos == s_pos
                    champion_pos += c_pos
                    shadow_pos += s_pos
                    remembered[prediction_id] = answers[s_pos]
                while len(remembered) > self.remember:
                    remembered.popitem(last=False)
            n = len(texts)
            m = self.metrics
            m.count_pairs(agree, n - agree)
            champion_version = ids[0].rsplit(".", 1)[-1] if ids else ""
            m.count_predictions(CHAMPION, champion_version, champion_pos, n - champion_pos)
            m.count_predictions(SHADOW, answers[0][1], shadow_pos, n - shadow_pos)
            plog = self.prediction_log
            if plog is not None:
                plog.log_predictions(
                    ids,
                    texts,
                    shadow_p,
                    scored.n_tokens,
                    scored.unseen_shares,
                    info.name,
                    info.version,
                    route,
                    SHADOW,
                )
        except Exception:
            self._failed("score")

    def count_feedback(self, items: list[FeedbackItem]) -> None:
        """Count each label this worker holds the shadow's answer for, for both roles."""
        try:
            with self._lock:
                found = [(item, self._answers.pop(item.id, None)) for item in items]
            for item, answer in found:
                parsed = parse_id(item.id)
                if answer is None or parsed is None:
                    continue
                self.metrics.count_feedback(CHAMPION, parsed[1], parsed[0], item.label)
                self.metrics.count_feedback(SHADOW, answer[1], answer[0], item.label)
        except Exception:
            self._failed("feedback")

    def _failed(self, what: str) -> None:
        self.metrics.count_error(what)
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            log.exception("shadow model %s failed (the response is not affected)", what)
