"""Per-request instrumentation as WSGI middleware: request id, latency and count metrics, in-flight
gauge, one JSON access-log line. Working on the WSGI environ directly keeps it to a few
microseconds (Flask's context-local proxies cost about 2 µs per lookup)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Request
from werkzeug.routing import Rule

from sentiment_mlops.serving.access_log import REQUEST_ID_KEY, AccessLog, request_id_from
from sentiment_mlops.serving.metrics import Metrics, endpoint_label
from sentiment_mlops.serving.request import StartResponse, as_api_error, drain, error_body, respond

RULE_KEY = "sentiment.url_rule"
PREDICT_PATH = "/v1/predict"
PREDICT_RULE = Rule(PREDICT_PATH, methods=["POST"])  # the label the fast path reports
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RuleRecordingRequest(Request):
    """Flask's request, keeping the matched route in the WSGI environ so the middleware can label
    the metrics after Flask has torn the request context down."""

    @property
    def url_rule(self) -> Rule | None:
        rule: Rule | None = self.environ.get(RULE_KEY)
        return rule

    @url_rule.setter
    def url_rule(self, rule: Rule | None) -> None:
        self.environ[RULE_KEY] = rule


class Instrumented:
    """Wraps the Flask WSGI app; the endpoint label is the route Flask matched (``other`` if none).

    ``POST /v1/predict`` with a Content-Length, the hot path, is answered here without Flask's
    request context, URL adapter and Response objects, which cost more than the scoring of a
    review. It calls the same function as the Flask route (which still serves chunked bodies) and
    the same error encoding as the Flask error handlers (:mod:`.request`), so both answer the
    same bytes.
    """

    def __init__(self, app: WSGIApp, metrics: Metrics, flask_app: Flask) -> None:
        self.app = app
        self.flask_app = flask_app
        self.metrics = metrics
        self._labels: dict[str, str] = {}
        self.access_log = AccessLog()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        environ[REQUEST_ID_KEY] = request_id
        status_line = ["500"]

        def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status_line[0] = status
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        in_flight = self.metrics.in_flight
        in_flight.inc()
        try:
            if (
                environ.get("PATH_INFO") == PREDICT_PATH
                and environ.get("REQUEST_METHOD") == "POST"
                and environ.get("CONTENT_LENGTH")
            ):
                environ[RULE_KEY] = PREDICT_RULE
                body: Iterable[bytes] = self._predict(environ, _start_response)
            else:
                body = self.app(environ, _start_response)
        finally:
            in_flight.dec()
        elapsed = time.perf_counter() - start
        status = int(status_line[0][:3])
        endpoint = self._endpoint(environ)
        method = environ.get("REQUEST_METHOD", "GET")
        self.metrics.observe_request(method, endpoint, status, elapsed)
        if status == 413:
            drain(environ)
        if self.access_log.enabled():
            self.access_log.write(
                {
                    "request_id": request_id,
                    "method": method,
                    "path": environ.get("PATH_INFO", ""),
                    "endpoint": endpoint,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                }
            )
        return body

    def _predict(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        from sentiment_mlops.serving.api import EXTENSION, predict_bytes

        config = self.flask_app.config
        limit = config.get("MAX_CONTENT_LENGTH")
        try:
            data = predict_bytes(self.flask_app.extensions[EXTENSION], config["LIMITS"], environ, limit)
        except Exception as exc:
            error = as_api_error(exc, limit)
            return respond(start_response, error.status, error_body(error))
        return respond(start_response, 200, data)

    def _endpoint(self, environ: dict[str, Any]) -> str:
        rule = environ.get(RULE_KEY)
        if rule is None:
            return endpoint_label(None)
        label = self._labels.get(rule.rule)
        if label is None:
            label = self._labels[rule.rule] = endpoint_label(rule.rule)
        return label
