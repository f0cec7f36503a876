"""Prometheus as a user runs it locally (the project's prometheus.yml and rules) on a free loopback
port, with its own TSDB, scraping the API every second; and queries against it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
import yaml

from sentiment_mlops.processes import Supervised, free_port
from sentiment_mlops.workspace.monitoring import prometheus_config
from sentiment_mlops.workspace.repository import monitoring_paths


class Prometheus(Supervised):
    """Prometheus on a free loopback port with its own TSDB, scraping ``api_target`` every second."""

    def __init__(self, workdir: Path, api_target: str) -> None:
        paths = monitoring_paths()
        config = yaml.safe_load(prometheus_config(paths.prometheus_config, paths.rules, api_target))
        config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        # only the API: nothing listens for the predictive scaler here
        config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] == "sentiment-api"]
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()
        url = f"http://127.0.0.1:{self.port}"
        argv = [
            "prometheus",
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        super().__init__(
            "prometheus",
            argv,
            workdir / "prometheus.log",
            url=url,
            ready_url=f"{url}/-/ready",
            ready_timeout=60,
        )

    def wait_for(self, condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.exit_code() is None, self.log()
            try:
                if condition():
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"prometheus: not {what} after {timeout} s\n{self.log()[-3000:]}")

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        body = requests.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

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

    def alerts(self, name: str) -> list[dict[str, Any]]:
        body = requests.get(f"{self.url}/api/v1/alerts", timeout=10).json()
        return [a for a in body["data"]["alerts"] if a["labels"]["alertname"] == name]
