"""Shadow scoring: every scoring route scores with both models, answers with the champion only
(the same bytes as without a shadow), logs the shadow's rows and counts agreement and feedback per
role; a shadow that fails never changes an answer."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, generate_latest

from sentiment_mlops.data.feedback import read_log
from sentiment_mlops.data.log_format import PREDICTIONS
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.app import create_app, model_state
from sentiment_mlops.serving.feedback import version_token
from sentiment_mlops.serving.prediction_log import LogSettings
from sentiment_mlops.serving.shadow import Shadow
from sentiment_mlops.serving.shadow_metrics import ShadowMetrics

POSITIVE = "A wonderful film: moving, funny and beautifully acted. I loved every minute of it."
NEGATIVE = "Awful. The worst movie I have ever seen: boring, badly acted, a total waste of time."
HEADERS = {"X-Request-ID": "shadow-test-1"}


def _opposite(model: SentimentModel, dest: Path, version: str) -> Path:
    """A real, saved model that answers the other class for every review (weights negated)."""
    card = {**model.card, "registry": {"name": "sentiment", "version": version, "alias": "challenger"}}
    if "length" in card.get("calibration", {}):  # the terms even in the logit must flip with it
        cal = card["calibration"]
        card["calibration"] = cal | {k: -cal[k] for k in ("length", "length2", "shift") if k in cal}
    flipped = dataclasses.replace(model, weights=-model.weights, bias=-model.bias, card=card)
    return flipped.save(dest)


def _metric(client: FlaskClient, line_start: str) -> float:
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {line_start}")


def _app(model: SentimentModel, shadow: Path | str | None, log: Path | None = None) -> Flask:
    config: dict[str, Any] = {"SHADOW_MODEL_URI": str(shadow) if shadow else None}
    if log is not None:
        config["PREDICTION_LOG"] = LogSettings(str(log), flush_seconds=3600)
    return create_app(model, config)


REQUESTS = [
    ("post", "/v1/predict", {"json": {"texts": [POSITIVE, NEGATIVE]}}),  # the WSGI fast path
    ("post", "/v1/predict", {"data": b'{"text": "fine"}', "headers": {"Transfer-Encoding": "chunked"},
                      "content_type": "application/json"}),
    ("post", "/v2/models/sentiment/infer", {"json": {"inputs": [
        {"name": "text", "datatype": "BYTES", "shape": [2], "data": [POSITIVE, NEGATIVE]}]}}),
    ("post", "/predict", {"data": {"text": POSITIVE}}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "kwargs"), REQUESTS, ids=["fast", "chunked", "v2", "form"])
def test_the_answer_is_the_same_bytes_with_a_shadow(
    model: SentimentModel, tmp_path: Path, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    shadow_dir = _opposite(model, tmp_path / "shadow", "7")
    plain, shadowed = _app(model, None).test_client(), _app(model, shadow_dir).test_client()
    kwargs = copy.deepcopy(kwargs)
    headers = {**HEADERS, **kwargs.pop("headers", {})}
    a = getattr(plain, method)(path, headers=headers, **kwargs)
    b = getattr(shadowed, method)(path, headers=headers, **kwargs)
    assert a.status_code == b.status_code == 200
    assert a.get_data() == b.get_data()
    assert _metric(shadowed, 'model_shadow_agreement_total{agree="false"}') >= 1.0  # it did score


def test_shadow_rows_join_the_champion_rows_by_id_and_agreement_is_counted(
    model: SentimentModel, tmp_path: Path
) -> None:
    shadow_dir = _opposite(model, tmp_path / "shadow", "7")
    app = _app(model, shadow_dir, tmp_path / "log")
    client = app.test_client()
    preds = client.post("/v1/predict", json={"texts": [POSITIVE, NEGATIVE]}).get_json()["predictions"]
    preds += client.post("/v1/predict", json={"text": "ok"}).get_json()["predictions"]  # one review
    model_state(app).prediction_log.close()  # type: ignore[union-attr]
    rows = read_log(str(tmp_path / "log"), PREDICTIONS)
    champion, shadow = rows[rows["role"] == "champion"], rows[rows["role"] == "shadow"]
    assert list(champion["id"]) == list(shadow["id"]) == [p["id"] for p in preds]
    assert set(shadow["model_version"]) == {"7"}
    assert list(shadow["label"]) != list(champion["label"])  # the flipped model disagrees everywhere
    assert abs(shadow["probability"].to_numpy() + champion["probability"].to_numpy() - 1.0).max() < 1e-6
    assert _metric(client, 'model_shadow_agreement_total{agree="false"}') == 3.0
    assert _metric(client, 'model_shadow_agreement_total{agree="true"}') == 0.0
    positives = sum(p["label"] == "positive" for p in preds)
    shadow_pos = 'model_shadow_predictions_total{model_version="7",prediction="positive",role="shadow"}'
    assert _metric(client, shadow_pos) == 3 - positives
    assert _metric(client, 'model_shadow_info{content_hash="') == 1.0
    assert _metric(client, "model_shadow_ready") == 1.0


def test_a_label_counts_for_both_roles_against_their_own_prediction(
    model: SentimentModel, tmp_path: Path
) -> None:
    client = _app(model, _opposite(model, tmp_path / "shadow", "7")).test_client()
    (pred,) = client.post("/v1/predict", json={"text": POSITIVE}).get_json()["predictions"]
    actual = pred["label"]  # the champion is right, so the flipped shadow is wrong
    client.post("/v1/feedback", json={"id": pred["id"], "label": actual})
    client.post("/v1/feedback", json={"id": pred["id"], "label": actual})  # a repeat counts once
    other = "negative" if actual == "positive" else "positive"
    token = pred["id"].rsplit(".", 1)[1]
    family = f'model_shadow_feedback_total{{actual="{actual}",'
    champ = f'{family}model_version="{token}",predicted="{actual}",role="champion"}}'
    shadow = f'{family}model_version="7",predicted="{other}",role="shadow"}}'
    assert _metric(client, champ) == 1.0
    assert _metric(client, shadow) == 1.0


def test_a_shadow_that_does_not_load_is_counted_and_the_service_answers(
    model: SentimentModel, tmp_path: Path
) -> None:
    client = _app(model, tmp_path / "missing").test_client()
    plain = _app(model, None).test_client()
    body = {"text": POSITIVE}
    assert (
        client.post("/v1/predict", json=body, headers=HEADERS).get_data()
        == plain.post("/v1/predict", json=body, headers=HEADERS).get_data()
    )
    assert _metric(client, 'model_shadow_errors_total{stage="load"}') == 1.0
    assert _metric(client, "model_shadow_ready") == 0.0
    assert _metric(client, 'model_shadow_agreement_total{agree="true"}') == 0.0


def test_a_shadow_that_fails_to_score_never_changes_the_answer(
    model: SentimentModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(model, _opposite(model, tmp_path / "shadow", "7"))
    shadow = model_state(app).shadow
    assert isinstance(shadow, Shadow)
    broken, _, _ = shadow._current  # type: ignore[misc]

    def fail(*texts: object) -> None:
        raise RuntimeError("the shadow's kernels broke")

    monkeypatch.setattr(broken, "score", fail)
    monkeypatch.setattr(broken, "score_one", fail)  # the one-review path
    client = app.test_client()
    plain = _app(model, None).test_client()
    for path, kwargs in [
        ("/v1/predict", {"json": {"text": POSITIVE}}),
        ("/v1/predict", {"json": {"texts": [POSITIVE, NEGATIVE]}}),
        ("/predict", {"data": {"text": NEGATIVE}}),
    ]:
        a = client.post(path, headers=HEADERS, **kwargs)
        b = plain.post(path, headers=HEADERS, **kwargs)
        assert a.status_code == 200 and a.get_data() == b.get_data()
    assert _metric(client, 'model_shadow_errors_total{stage="score"}') == 3.0


def test_sighup_reloads_the_shadow_too(model: SentimentModel, tmp_path: Path) -> None:
    shadow_dir = tmp_path / "shadow"
    app = _app(model, _opposite(model, shadow_dir, "7"))
    _opposite(model, shadow_dir, "8")
    assert model_state(app).reload() is False  # no MODEL_URI for the champion: it keeps serving
    client = app.test_client()
    assert _metric(client, 'model_shadow_info{content_hash="') == 0.0  # version 7's series dropped
    assert model_state(app).shadow.info.version == "8"  # type: ignore[union-attr]
    (shadow_dir / "card.json").write_text("{broken")
    assert model_state(app).shadow.reload() is False  # type: ignore[union-attr]
    assert model_state(app).shadow.info.version == "8"  # type: ignore[union-attr]
    assert _metric(client, 'model_shadow_errors_total{stage="load"}') == 1.0


def test_the_report_pairs_the_log_and_gates(model: SentimentModel, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sentiment_mlops.cli import app as cli
    from sentiment_mlops.data.errors import DataError
    from sentiment_mlops.serving.shadow_report import Gate, report

    app = _app(model, _opposite(model, tmp_path / "shadow", "7"), tmp_path / "log")
    client = app.test_client()
    texts = [POSITIVE, NEGATIVE, "fine", "dull"]
    preds = client.post("/v1/predict", json={"texts": texts}).get_json()["predictions"]
    feedback = [{"id": p["id"], "label": p["label"]} for p in preds[:3]]  # the champion right on 3
    client.post("/v1/feedback", json={"feedback": feedback})
    model_state(app).prediction_log.close()  # type: ignore[union-attr]
    summary = report(str(tmp_path / "log"))
    assert (summary["pairs"], summary["agreement"], summary["labelled"]) == (4, 0.0, 3)
    assert summary["models"]["champion"]["accuracy"] == 1.0 and summary["models"]["shadow"]["accuracy"] == 0.0
    assert summary["mcnemar"]["only_champion_right"] == 3
    assert Gate(max_accuracy_drop=0.01).failures(summary) and not Gate().failures(summary)
    with pytest.raises(DataError, match="shadow version 8"):
        report(str(tmp_path / "log"), shadow_version="8")
    result = CliRunner().invoke(
        cli, ["shadow", "report", "--log", str(tmp_path / "log"), "--min-agreement", "0.5"]
    )
    assert result.exit_code == 2 and "agreement 0.0000 < 0.5" in result.output
    empty = CliRunner().invoke(cli, ["shadow", "report", "--log", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "no review scored by both" in empty.output


def test_feedback_series_of_a_shadow_exist_at_zero_before_the_first_label() -> None:
    """rate() sees a label series before its first label, so the first labels count (a series that
    first appears at N has no increase)."""
    registry = CollectorRegistry()
    ShadowMetrics(registry).init_feedback("shadow", "v2")
    text = generate_latest(registry).decode()
    for predicted in ("negative", "positive"):
        for actual in ("negative", "positive"):
            labels = f'actual="{actual}",model_version="v2",predicted="{predicted}",role="shadow"'
            assert f"model_shadow_feedback_total{{{labels}}} 0.0" in text


def test_the_champions_label_series_exist_at_zero_as_soon_as_it_serves(
    model: SentimentModel, tmp_path: Path
) -> None:
    """Set when a champion loads (and again for each one a reload installs), not per request."""
    app = _app(model, _opposite(model, tmp_path / "shadow", "7"))
    client = app.test_client()
    successor = dataclasses.replace(
        model, card={**model.card, "registry": {"name": "sentiment", "version": "8"}}
    )
    for step, version in enumerate((version_token(model.version), "8")):
        if step:
            model_state(app).install(successor)
        for predicted in ("negative", "positive"):
            for actual in ("negative", "positive"):
                labels = (
                    f'actual="{actual}",model_version="{version}",predicted="{predicted}",role="champion"'
                )
                assert _metric(client, f"model_shadow_feedback_total{{{labels}}}") == 0.0
