"""The metric contract of docs/metrics.md, and what one process records (test client, no workers)."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.metrics import LATENCY_BUCKETS, endpoint_label, exported_metric_names


def _samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").get_data(as_text=True)
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_exported_names_are_exactly_the_documented_ones(repo_root: Path) -> None:
    doc = (repo_root / "docs" / "metrics.md").read_text()
    section = doc.split("## The API", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))
    assert exported_metric_names() == documented


def test_latency_buckets_follow_the_contract() -> None:
    assert LATENCY_BUCKETS[0] == 0.0001 and LATENCY_BUCKETS[-1] == 10


def test_endpoint_label_is_the_route_template() -> None:
    assert endpoint_label("/v2/models/<name>/infer") == "/v2/models/{name}/infer"
    assert (
        endpoint_label("/v2/models/<string:name>/versions/<version>")
        == "/v2/models/{name}/versions/{version}"
    )
    assert endpoint_label(None) == "other"


def test_requests_predictions_and_model_gauges_are_counted(
    client: FlaskClient, model: SentimentModel
) -> None:
    texts = ["A wonderful film, I loved it.", "Boring and awful, a waste of time.", "Brilliant!"]
    labels = [p["label"] for p in client.post("/v1/predict", json={"texts": texts}).get_json()["predictions"]]
    client.post("/v1/predict", json={"text": ""})
    for path in ("/does/not/exist", "/wp-admin.php", "/v1/predict/x"):
        client.get(path)
    m = _samples(client)
    key = lambda name, **labels: (name, tuple(sorted(labels.items())))  # noqa: E731
    assert m[key("app_request_count_total", method="POST", endpoint="/v1/predict", http_status="200")] == 1
    assert m[key("app_request_count_total", method="POST", endpoint="/v1/predict", http_status="422")] == 1
    assert m[key("app_request_count_total", method="GET", endpoint="other", http_status="404")] == 3
    assert m[key("app_request_latency_seconds_count", method="POST", endpoint="/v1/predict")] == 2
    for cls in ("positive", "negative"):
        assert m[key("model_prediction_count_total", prediction=cls)] == labels.count(cls)
    assert m[key("model_positive_probability_count")] == 3
    assert m[key("model_input_tokens_count")] == 3
    assert 0 < m[key("model_unseen_ngrams_total")] <= m[key("model_ngrams_total")]
    info = key(
        "model_info",
        model_name="sentiment",
        version=model.version,
        content_hash=model.content_hash,
        alias="none",
        featurizer_version=model.card["featurizer"]["version"],
    )
    assert m[info] == 1
    assert m[key("model_ready")] == 1
    assert m[key("model_baseline_positive_share")] == model.card["baseline"]["positive_share"]
    # bounded labels: no series names a raw unknown path
    assert not any("wp-admin" in str(k) for k in m)
