"""Series patterns the API's and the shadow's metric families share (docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CLASSES = ("negative", "positive")


def init_label_series(feedback: Counter, *labels: str) -> None:
    """Expose the four (predicted, actual) label series after ``labels`` at 0 as soon as a model
    version serves: rate() needs a sample before the first label, or the first labels of each
    series (a series that appears already at N) never count as an increase."""
    for predicted in CLASSES:
        for actual in CLASSES:
            feedback.labels(*labels, predicted, actual)


class InfoSeries:
    """An info gauge naming one model at a time: set to 1 for it, the previous model's series to 0."""

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self._labels: tuple[str, ...] | None = None

    def set(self, *labels: str) -> None:
        if self._labels is not None and self._labels != labels:
            self.gauge.labels(*self._labels).set(0)
        self.gauge.labels(*labels).set(1)
        self._labels = labels
