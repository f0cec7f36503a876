"""Prometheus as a user runs it locally: the project's prometheus.yml and rules, its own TSDB, a free
loopback port, scraping the API every second; and the queries the loop and the tests ask it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
import yaml

from sentiment_mlops.processes import ProcessError, Supervised, free_port
from sentiment_mlops.workspace.monitoring import prometheus_config
from sentiment_mlops.workspace.repository import monitoring_paths


class LocalPrometheus(Supervised):
    """The ``prometheus`` binary, supervised, with the repository's rules, scraping ``api_target``."""

    def __init__(self, workdir: Path, api_target: str, port: int | None = None) -> None:
        paths = monitoring_paths()
        config = yaml.safe_load(prometheus_config(paths.prometheus_config, paths.rules, api_target))
        config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        # Only the API: nothing listens for the predictive scaler here.
        config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] == "sentiment-api"]
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port() if port is None else port
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

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant vector ``promql`` selects (now, or at epoch seconds ``at``)."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        body = requests.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        if body.get("status") != "success":
            raise ProcessError(f"prometheus: {promql}: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def first_value(self, promql: str) -> float | None:
        """The first series' value, or None while the query selects nothing."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def alerts(self, name: str) -> list[dict[str, Any]]:
        """The active (pending or firing) alerts named ``name``."""
        body = requests.get(f"{self.url}/api/v1/alerts", timeout=10).json()
        return [a for a in body["data"]["alerts"] if a["labels"]["alertname"] == name]

    def alert_state(self, name: str) -> str | None:
        alerts = self.alerts(name)
        return str(alerts[0]["state"]) if alerts else None
