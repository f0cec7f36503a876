"""Prometheus metrics of the API (the contract is docs/metrics.md), exact across gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``sentiment serve`` sets it), every process writes its
samples to memory-mapped files there and ``/metrics`` merges them: counters and histograms add up,
``app_requests_in_flight`` sums live processes, model gauges take the maximum. prometheus_client
picks its storage when first imported, so the variable must be set before that (the server's app
factory does it first: :func:`sentiment_mlops.serving.wsgi.prepare_metrics_dir`).
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prom_multiprocess
from prometheus_client.mmap_dict import MmapedDict

from sentiment_mlops.serving.series import InfoSeries, init_label_series
from sentiment_mlops.serving.shadow_metrics import ShadowMetrics

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
TOKEN_BUCKETS = (10, 25, 50, 100, 200, 400, 800, 1600, 3200)
OTHER_ENDPOINT = "other"
_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def endpoint_label(rule: str | None) -> str:
    """The route template in OpenAPI style (``/v2/models/{name}/infer``); unknown paths -> ``other``."""
    if rule is None:
        return OTHER_ENDPOINT
    return _RULE_ARG.sub(r"{\1}", rule)


class Metrics:
    """The API's metric families, registered in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "app_request_count", "HTTP requests answered", ["method", "endpoint", "http_status"], registry=r
        )
        self.latency = Histogram(
            "app_request_latency_seconds",
            "Time to answer an HTTP request",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "app_requests_in_flight", "Requests being handled now", registry=r, multiprocess_mode="livesum"
        )
        self.predictions = Counter(
            "model_prediction_count", "Reviews scored, by predicted class", ["prediction"], registry=r
        )
        self.probability = Histogram(
            "model_positive_probability",
            "Predicted probability of positive",
            buckets=PROBABILITY_BUCKETS,
            registry=r,
        )
        self.tokens = Histogram(
            "model_input_tokens", "Tokens per scored review", buckets=TOKEN_BUCKETS, registry=r
        )
        self.ngrams = Counter("model_ngrams", "N-grams seen in scored reviews", registry=r)
        self.unseen = Counter(
            "model_unseen_ngrams", "N-grams of scored reviews never seen in training", registry=r
        )
        self.info = Gauge(
            "model_info",
            "The model being served (value 1)",
            ["model_name", "version", "content_hash", "alias", "featurizer_version"],
            registry=r,
            multiprocess_mode="max",
        )
        self.ready = Gauge(
            "model_ready", "1 once a model is loaded and answering", registry=r, multiprocess_mode="max"
        )
        self.baseline_positive_share = Gauge(
            "model_baseline_positive_share",
            "Share of positive predictions on held-out data, from the model card",
            registry=r,
            multiprocess_mode="max",
        )
        self.validation_accuracy = Gauge(
            "model_validation_accuracy",
            "Accuracy on the validation split, from the model card (what live accuracy is held to)",
            registry=r,
            multiprocess_mode="max",
        )
        self.reloads = Counter("model_reload", "Model reloads on SIGHUP", ["outcome"], registry=r)
        # Performance on production traffic: live (labels sent to /v1/feedback) and estimated
        # (a calibrated model expects to be right max(p, 1-p) of the time: confidence-based estimation).
        self.expected_correct = Counter(
            "model_expected_correct",
            "Sum of max(p, 1-p) over scored reviews: expected correct predictions",
            registry=r,
        )
        self.feedback = Counter(
            "model_feedback",
            "Feedback labels matched to a prediction of this service",
            ["model_version", "predicted", "actual"],
            registry=r,
        )
        self.feedback_unmatched = Counter(
            "model_feedback_unmatched",
            "Feedback labels not counted live (unknown id, or an id already labelled in this worker)",
            ["reason"],
            registry=r,
        )
        self.log_rows = Counter(
            "prediction_log_rows", "Rows written to finished prediction-log segments", ["table"], registry=r
        )
        self.log_dropped = Counter(
            "prediction_log_dropped",
            "Rows the prediction log dropped (buffer full or a failed write)",
            ["table"],
            registry=r,
        )
        self.shadow = ShadowMetrics(r)  # the shadow model's families (serving/shadow.py)
        # Children cached so the hot path does a dict lookup, not a .labels() call per sample.
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[tuple[str, str], Any] = {}
        self._negative = self.predictions.labels(prediction="negative")
        self._positive = self.predictions.labels(prediction="positive")
        self._info = InfoSeries(self.info)
        for outcome in ("success", "failure"):
            self.reloads.labels(outcome=outcome)
        for reason in ("unknown_id", "duplicate"):
            self.feedback_unmatched.labels(reason=reason)
        for table in ("predictions", "feedback"):
            self.log_rows.labels(table=table)
            self.log_dropped.labels(table=table)

    def observe_request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        key = (method, endpoint, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(method, endpoint, str(status))
        counter.inc()
        lkey = (method, endpoint)
        hist = self._latency_children.get(lkey)
        if hist is None:
            hist = self._latency_children[lkey] = self.latency.labels(method, endpoint)
        hist.observe(seconds)

    def observe_scores(
        self, probabilities: list[float], n_tokens: list[int], n_ngrams: list[int], n_unseen: list[int]
    ) -> None:
        """Record one scored batch: class counts, probability and length histograms, unseen n-grams."""
        positives = sum(p >= 0.5 for p in probabilities)
        negatives = len(probabilities) - positives
        if positives:
            self._positive.inc(positives)
        if negatives:
            self._negative.inc(negatives)
        observe_p = self.probability.observe
        for p in probabilities:
            observe_p(p)
        observe_t = self.tokens.observe
        for t in n_tokens:
            observe_t(t)
        self.expected_correct.inc(sum(p if p >= 0.5 else 1.0 - p for p in probabilities))
        self.ngrams.inc(sum(n_ngrams))
        self.unseen.inc(sum(n_unseen))

    def init_feedback(self, version: str) -> None:
        """The four feedback series of a model version at 0 as soon as it serves."""
        init_label_series(self.feedback, version)

    def count_logged(self, table: str, rows: int) -> None:
        self.log_rows.labels(table=table).inc(rows)

    def count_dropped(self, table: str, rows: int) -> None:
        self.log_dropped.labels(table=table).inc(rows)

    def set_model(
        self, name: str, version: str, content_hash: str, alias: str, featurizer: str, baseline: float | None
    ) -> None:
        """Publish which model serves; the previous model's info series drops to 0."""
        self._info.set(name, version, content_hash, alias, featurizer)
        if baseline is not None:
            self.baseline_positive_share.set(baseline)
        self.ready.set(1)

    def render(self) -> tuple[bytes, str]:
        """The exposition text: merged over all processes in multiprocess mode, else this registry."""
        if multiprocess_dir():
            # shared lock: the master folds a dead worker's files into the archive under the
            # exclusive one, so a scrape never sees a file both in the archive and on its own
            with _folder_lock(exclusive=False):
                registry = CollectorRegistry()
                prom_multiprocess.MultiProcessCollector(registry)
                return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def exported_metric_names() -> set[str]:
    """Names of the metric families the API exports (as listed in docs/metrics.md)."""
    names = set()
    for metric in Metrics().registry.collect():
        suffix = "_total" if metric.type == "counter" else ""
        names.add(metric.name + suffix)
    return names


@contextmanager
def _folder_lock(exclusive: bool) -> Iterator[None]:
    directory = multiprocess_dir()
    assert directory is not None
    with (Path(directory) / ".lock").open("a") as handle:  # not *.db: the collector skips it
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def mark_process_dead(pid: int) -> None:
    """A worker died: fold its counters and histograms into one archive file per type and delete
    its files, so the folder holds the live processes plus two archives however often gunicorn
    recycles workers (prometheus_client alone keeps every dead worker's files: scrapes slow down)."""
    directory = multiprocess_dir()
    if not directory:
        return
    prom_multiprocess.mark_process_dead(pid)  # live gauges
    folder = Path(directory)
    with _folder_lock(exclusive=True):
        for kind in ("counter", "histogram"):
            dead = folder / f"{kind}_{pid}.db"
            if not dead.is_file():
                continue
            archive = MmapedDict(str(folder / f"{kind}_archive.db"))
            try:
                for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(dead)):
                    current, _ = archive.read_value(key)
                    archive.write_value(key, current + value, 0.0)
            finally:
                archive.close()
            dead.unlink()
        # max-mode gauges (model_ready, model_info) of a dead worker must not outvote the live ones
        for gauge in folder.glob(f"gauge_*_{pid}.db"):
            gauge.unlink()
