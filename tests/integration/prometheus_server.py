"""The package's local Prometheus (:mod:`sentiment_mlops.workspace.prometheus`) with what the
integration tests ask of it besides: exactly one series, a wait that fails with the log, a fresh scrape."""

from __future__ import annotations

from typing import Any

from sentiment_mlops.workspace import replay
from sentiment_mlops.workspace.prometheus import LocalPrometheus


class Prometheus(LocalPrometheus):
    """Prometheus on a free loopback port with its own TSDB, scraping ``api_target`` every second."""

    def wait_for(self, condition: Any, timeout: float, what: str) -> None:
        """The package's poll (:func:`replay.wait_for`), failing at once if Prometheus exits."""

        def alive_and_met() -> bool:
            assert self.exit_code() is None, self.log()
            return bool(condition())

        try:
            replay.wait_for(alive_and_met, timeout, what)
        except TimeoutError as exc:
            raise AssertionError(f"prometheus: {exc}\n{self.log()[-3000:]}") from None

    def value(self, promql: str, at: float | None = None) -> float:
        result = self.query(promql, at)
        assert len(result) == 1, f"{promql}: expected one series, got {result}"
        return float(result[0]["value"][1])

    def wait_for_scrape_after(self, moment: float) -> None:
        """Until a scrape of the API that started after ``moment`` (epoch seconds) is stored."""

        def scraped() -> bool:
            result = self.query('timestamp(up{job="sentiment-api"} == 1)')
            return bool(result) and float(result[0]["value"][1]) > moment

        self.wait_for(scraped, 15, "scraped after the last request")
