"""A small client for Prometheus's HTTP API (``/api/v1/query`` and ``/api/v1/query_range``)."""

from __future__ import annotations

import math

import numpy as np
import requests


class PrometheusError(RuntimeError):
    """Prometheus is unreachable or answered with an error."""


class PrometheusClient:
    """Instant and range queries returning floats; one series per query (wrap in ``sum(...)``)."""

    def __init__(self, base_url: str, timeout: float = 5.0, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def _get(self, path: str, params: dict[str, str]) -> dict:
        try:
            resp = self.session.get(f"{self.base_url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PrometheusError(f"Prometheus at {self.base_url} unreachable: {exc}") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise PrometheusError(f"Prometheus answered HTTP {resp.status_code} without JSON") from exc
        if resp.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"Prometheus error ({resp.status_code}): {body.get('error', body)}")
        return body["data"]

    def query(self, promql: str, at: float | None = None) -> float | None:
        """The value of a one-series instant query, or None when it returns nothing."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return _finite(data["result"][1])
        result = data["result"]
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"query returned {len(result)} series, expected one: {promql}")
        return _finite(result[0]["value"][1])

    def query_range(
        self, promql: str, start: float, end: float, step: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps and values of a one-series range query (empty arrays when nothing matches)."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        result = self._get("/api/v1/query_range", params)["result"]
        if not result:
            return np.empty(0), np.empty(0)
        if len(result) > 1:
            raise PrometheusError(f"query returned {len(result)} series, expected one: {promql}")
        pairs = result[0]["values"]
        ts = np.array([float(t) for t, _ in pairs])
        vals = np.array([_finite(v) or 0.0 for _, v in pairs])
        return ts, vals


def _finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None
