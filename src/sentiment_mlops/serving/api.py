"""The JSON API (``/v1``), probes, version, metrics, OpenAPI document and the web page."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from flask import Blueprint, Response, current_app, render_template, request

from sentiment_mlops import __version__
from sentiment_mlops.model import kernels
from sentiment_mlops.model.artifact import LABELS, SentimentModel
from sentiment_mlops.serving.access_log import REQUEST_ID_KEY
from sentiment_mlops.serving.errors import ApiError, UnsupportedMediaTypeError
from sentiment_mlops.serving.feedback import parse_feedback, prediction_ids
from sentiment_mlops.serving.request import JSON_TYPE, buffer_body, encode, json_response, read_json
from sentiment_mlops.serving.schemas import Limits, check_explained, check_texts, parse_predict
from sentiment_mlops.serving.state import ModelInfo, ModelState

EXTENSION = "sentiment"  # key of the ModelState in app.extensions

bp = Blueprint("api", __name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
PAGE_TOP_K = 12
_WORD = re.compile(r"[A-Za-z0-9\u0080-\U0010ffff]+(?:'[A-Za-z0-9\u0080-\U0010ffff]+)*")


def _state() -> ModelState:
    state: ModelState = current_app.extensions[EXTENSION]
    return state


def _limits() -> Limits:
    limits: Limits = current_app.config["LIMITS"]
    return limits


def body_limit() -> int | None:
    """The body size cap in bytes (``MAX_CONTENT_LENGTH``; read per request, tests change it)."""
    limit: int | None = current_app.config.get("MAX_CONTENT_LENGTH")
    return limit


class Scored(NamedTuple):
    model: SentimentModel
    info: ModelInfo
    probabilities: list[float]  # P(positive) per text
    ids: list[str]  # one prediction id per text, for feedback


def score_texts(state: ModelState, texts: list[str], environ: dict[str, Any], route: str) -> Scored:
    """Score a batch in one call, record its metrics and queue it for the prediction log. Every
    scoring route comes through here, so every served prediction is counted and logged."""
    model, info = state.get()
    scored = model.score_lists(texts)
    probabilities = scored.probabilities
    state.metrics.observe_scores(probabilities, scored.n_tokens, scored.n_ngrams, scored.n_unseen)
    ids = prediction_ids(environ.get(REQUEST_ID_KEY) or "-", probabilities, info.version)
    plog = state.prediction_log
    if plog is not None:
        plog.log_predictions(
            ids, texts, probabilities, scored.n_tokens, scored.unseen_shares, info.name, info.version, route
        )
    shadow = state.shadow
    if shadow is not None:  # after the answer is made: the shadow cannot change it
        shadow.score(texts, probabilities, ids, route)
    return Scored(model, info, probabilities, ids)


def label_of(p: float) -> str:
    return LABELS[int(p >= 0.5)]


def predict_payload(state: ModelState, limits: Limits, body: Any, environ: dict[str, Any]) -> dict[str, Any]:
    """The ``/v1/predict`` answer for a parsed body (shared by the route and the WSGI fast path)."""
    texts, req = parse_predict(body, limits)
    model, info, probabilities, ids = score_texts(state, texts, environ, "/v1/predict")
    predictions: list[dict[str, Any]] = [
        {"id": i, "label": LABELS[p >= 0.5], "probability": p}
        for i, p in zip(ids, probabilities, strict=True)
    ]
    if req.explain:
        for item, text in zip(predictions, texts, strict=True):
            item["explanation"] = model.explain(text, top_k=req.top_k)
    return {"predictions": predictions, "model": info.ref}


def predict_bytes(state: ModelState, limits: Limits, environ: dict[str, Any], limit: int | None) -> bytes:
    """The ``/v1/predict`` answer to a request, from its environ to the JSON bytes: called by the
    route and by the WSGI fast path, so both read, validate, score and encode alike."""
    return encode(predict_payload(state, limits, read_json(environ, limit), environ))


@bp.post("/v1/predict")
def predict() -> Response:
    """Served here only for bodies without a Content-Length (chunked); see :mod:`.middleware`."""
    data = predict_bytes(_state(), _limits(), request.environ, body_limit())
    return Response(data, mimetype=JSON_TYPE)


@bp.post("/v1/feedback")
def feedback() -> Response:
    """Labels for earlier predictions: ``{id, label}`` or ``{"feedback": [{id, label}, ...]}``.
    Every well-formed label is accepted and logged; the answer says how many matched live."""
    items = parse_feedback(read_json(request.environ, body_limit()))
    state = _state()
    counts = state.feedback.count(items)
    if state.shadow is not None:
        state.shadow.count_feedback(items)
    if state.prediction_log is not None:
        state.prediction_log.log_feedback([i.id for i in items], [i.label for i in items])
    return json_response(counts, 202)


@bp.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    state = _state()
    if not state.ready:
        return json_response({"status": "not ready", "reason": "no model is loaded"}, 503)
    _, info = state.get()
    return json_response({"status": "ready", "model": info.ref})


@bp.get("/version")
def version() -> Response:
    _, info = _state().get()
    return json_response(
        {
            "package": __version__,
            "model": {
                **info.ref,
                "alias": info.alias,
                "featurizer_version": info.featurizer_version,
            },
            "kernels": kernels.info().to_dict(),
        }
    )


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = _state().metrics.render()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> Response:
    from sentiment_mlops.serving.openapi import openapi_document

    doc = current_app.config.get("OPENAPI_DOC")
    if doc is None:
        doc = current_app.config["OPENAPI_DOC"] = encode(openapi_document(_limits()))
    return Response(doc, mimetype=JSON_TYPE)


# --- the web page -----------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    return render_template("index.html", text="", result=None, error=None, limits=_limits())


@bp.post("/predict")
def predict_form() -> tuple[str, int]:
    if request.mimetype not in FORM_TYPES:
        raise UnsupportedMediaTypeError(f"Content-Type must be one of {', '.join(FORM_TYPES)} (an HTML form)")
    buffer_body(request.environ, body_limit())
    text = request.form.get("text", "")
    try:
        check_texts([text], _limits(), "text")
        check_explained([text], _limits(), "text")  # the page always explains
    except ApiError as exc:
        page = render_template("index.html", text=text, result=None, error=exc.message, limits=_limits())
        return page, exc.status
    model, _info, (p,), (prediction_id,) = score_texts(_state(), [text], request.environ, "/predict")
    explanation = model.explain(text, top_k=PAGE_TOP_K)
    result = {
        "id": prediction_id,
        "label": label_of(p),
        "probability": p,
        "confidence": p if p >= 0.5 else 1.0 - p,
        "explanation": explanation,
        "segments": highlight(text, explanation),
    }
    return render_template("index.html", text=text, result=result, error=None, limits=_limits()), 200


def highlight(text: str, explanation: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """Split ``text`` into ``(piece, "pos" | "neg" | None)``: words of the strongest n-grams marked
    by the sign of the strongest n-gram they belong to (the case-folded word is matched)."""
    strength: dict[str, float] = {}
    floor = 0.2 * max((abs(float(item["weight"])) for item in explanation), default=0.0)
    for item in explanation:
        w = float(item["weight"])
        if abs(w) < floor:  # weak n-grams would colour filler words ("the", "a")
            continue
        for word in str(item["ngram"]).split():
            if abs(w) > abs(strength.get(word, 0.0)):
                strength[word] = w
    segments: list[tuple[str, str | None]] = []
    pos = 0
    for match in _WORD.finditer(text):
        if match.start() > pos:
            segments.append((text[pos : match.start()], None))
        weight = strength.get(match.group().lower())
        kind = None if weight is None else ("pos" if weight > 0 else "neg")
        segments.append((match.group(), kind))
        pos = match.end()
    if pos < len(text):
        segments.append((text[pos:], None))
    return segments
