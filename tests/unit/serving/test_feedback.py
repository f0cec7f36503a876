"""Prediction ids, POST /v1/feedback, and the prediction log written by every scoring route."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from sentiment_mlops.data.feedback import read_log
from sentiment_mlops.data.log_format import FEEDBACK, PREDICTIONS
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.app import create_app, model_state
from sentiment_mlops.serving.feedback import parse_id
from sentiment_mlops.serving.prediction_log import LogSettings

POSITIVE = "A wonderful film: moving, funny and beautifully acted. I loved every minute of it."
NEGATIVE = "Awful. The worst movie I have ever seen: boring, badly acted, a total waste of time."


def _metric(client: FlaskClient, line_start: str) -> float:
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {line_start}")


def test_the_feedback_series_of_the_served_model_exist_at_zero_before_any_label(
    client: FlaskClient, model: SentimentModel
) -> None:
    # rate() over a series that first appears at N sees no increase: the first labels must count
    for predicted in ("negative", "positive"):
        for actual in ("negative", "positive"):
            series = (
                f'model_feedback_total{{actual="{actual}",model_version="{model.version}",'
                f'predicted="{predicted}"}}'
            )
            assert _metric(client, series) == 0.0


def test_a_label_for_a_prediction_counts_live(client: FlaskClient, model: SentimentModel) -> None:
    (pred,) = client.post("/v1/predict", json={"text": POSITIVE}).get_json()["predictions"]
    assert parse_id(pred["id"]) == ("positive", model.version)
    r = client.post("/v1/feedback", json={"id": pred["id"], "label": "negative"})
    assert r.status_code == 202
    assert r.get_json() == {"accepted": 1, "matched": 1, "unknown": 0, "duplicate": 0}
    series = f'model_feedback_total{{actual="negative",model_version="{model.version}",predicted="positive"}}'
    assert _metric(client, series) == 1.0


def test_unknown_and_repeated_ids_are_accepted_and_counted(client: FlaskClient) -> None:
    (pred,) = client.post("/v1/predict", json={"text": NEGATIVE}).get_json()["predictions"]
    batch = {
        "feedback": [
            {"id": pred["id"], "label": "negative"},
            {"id": pred["id"], "label": "negative"},
            {"id": "not-one-of-ours", "label": "positive"},
            {"id": "req.0.p.a-model-never-served", "label": "positive"},
        ]
    }
    r = client.post("/v1/feedback", json=batch)
    assert r.status_code == 202
    assert r.get_json() == {"accepted": 4, "matched": 1, "unknown": 2, "duplicate": 1}
    assert _metric(client, 'model_feedback_unmatched_total{reason="unknown_id"}') == 2.0
    assert _metric(client, 'model_feedback_unmatched_total{reason="duplicate"}') == 1.0


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"id": "x"}, 422, "invalid_input", "label: Field required"),
        (
            {"id": "x", "label": "good"},
            422,
            "invalid_input",
            "label: Input should be 'negative' or 'positive'",
        ),
        (
            {"id": "", "label": "positive"},
            422,
            "invalid_input",
            "id: String should have at least 1 character",
        ),
        ({"feedback": []}, 422, "invalid_input", "feedback: List should have at least 1 item"),
        ({"id": "x", "label": "positive", "extra": 1}, 422, "invalid_input", "extra: Extra inputs"),
        ([{"id": "x", "label": "positive"}], 422, "invalid_input", "body must be a JSON object"),
    ],
)
def test_bad_feedback_is_a_4xx_with_the_error_body(
    client: FlaskClient, body: object, status: int, code: str, message: str
) -> None:
    r = client.post("/v1/feedback", json=body)
    assert r.status_code == status
    error = r.get_json()["error"]
    assert error["code"] == code and error["message"].startswith(message)


def test_feedback_needs_json(client: FlaskClient) -> None:
    r = client.post(
        "/v1/feedback", data="id=x&label=positive", content_type="application/x-www-form-urlencoded"
    )
    assert r.status_code == 415 and r.get_json()["error"]["code"] == "unsupported_media_type"
    r = client.post("/v1/feedback", data="{", content_type="application/json")
    assert r.status_code == 400


def test_estimated_accuracy_counter_sums_the_confidence(client: FlaskClient, model: SentimentModel) -> None:
    texts = [POSITIVE, NEGATIVE, "It was fine, I guess."]
    client.post("/v1/predict", json={"texts": texts})
    expected = sum(max(p, 1 - p) for p in model.predict_proba(texts).tolist())
    assert _metric(client, "model_expected_correct_total ") == pytest.approx(expected)


def test_every_route_logs_its_predictions_and_the_feedback(
    tmp_path: Path, model: SentimentModel, small_model_dir: Path
) -> None:
    config = {
        "MODEL_URI": str(small_model_dir),
        "PREDICTION_LOG": LogSettings(str(tmp_path), text_mode="full"),
    }
    app = create_app(model, config)
    client = app.test_client()
    api = client.post("/v1/predict", json={"texts": [POSITIVE, NEGATIVE]}).get_json()["predictions"]
    chunked = client.post(
        "/v1/predict",
        json={"text": NEGATIVE},
        environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True},
    ).get_json()["predictions"]
    page = client.post("/predict", data={"text": POSITIVE}).get_data(as_text=True)
    infer = client.post(
        "/v2/models/sentiment/infer",
        json={"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [NEGATIVE]}]},
    ).get_json()
    (v2_id,) = next(o["data"] for o in infer["outputs"] if o["name"] == "id")
    client.post("/v1/feedback", json={"id": api[0]["id"], "label": "positive"})
    model_state(app).prediction_log.close()  # what gunicorn's worker_exit does

    logged = read_log(str(tmp_path), PREDICTIONS).set_index("id")
    served = [api[0]["id"], api[1]["id"], chunked[0]["id"], v2_id]
    assert set(served) < set(logged.index) and len(logged) == 5  # and the form's one
    (form_id,) = set(logged.index) - set(served)
    assert f'data-id="{form_id}"' in page  # the page's "was this right?" sends this id
    assert logged.loc[api[0]["id"], "text"] == POSITIVE and logged.loc[api[0]["id"], "label"] == "positive"
    assert dict(logged["route"].value_counts()) == {
        "/v1/predict": 3,
        "/predict": 1,
        "/v2/models/{name}/infer": 1,
    }
    assert set(logged["model_version"]) == {model.version}
    assert logged["unseen_share"].between(0, 1).all() and (logged["n_tokens"] > 0).all()
    fb = read_log(str(tmp_path), FEEDBACK)
    assert list(fb["id"]) == [api[0]["id"]] and list(fb["label"]) == ["positive"]
    assert _metric(client, 'prediction_log_rows_total{table="predictions"}') == 5.0
    assert _metric(client, 'prediction_log_dropped_total{table="predictions"}') == 0.0
