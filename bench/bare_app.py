"""A Flask app that does no work: the ceiling for any Flask service under the same gunicorn.

``bench_serve.py`` loads it with the same load as our service, to tell what our service adds per
request apart from what the machine, gunicorn and the load generator cost.

    gunicorn -w 2 --chdir bench bare_app:app
"""

from __future__ import annotations

from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/v1/predict")
def predict() -> Response | tuple[dict[str, str], int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return {"error": "send {'text': '...'}"}, 422
    return Response(
        '{"predictions": [{"label": "positive", "probability": 0.5}]}', mimetype="application/json"
    )


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
