"""Metrics add up exactly across gunicorn workers: what /metrics says equals what the clients got."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from sentiment_mlops.model.artifact import SentimentModel
from tests.integration.serving_server import ApiServer

pytestmark = pytest.mark.integration

REVIEWS = [
    "A wonderful, moving film. I loved it!",
    "Awful and boring, the worst film of the year.",
    "The plot was thin but the acting was great.",
    "I want my two hours back. Terrible script.",
    "Brilliant photography, a real masterpiece.",
]


def _scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _one_request(url: str, kind: str, rng: random.Random) -> tuple[str, int, list[dict[str, float | str]]]:
    if kind == "single":
        r = requests.post(f"{url}/v1/predict", json={"text": rng.choice(REVIEWS)}, timeout=30)
    elif kind == "batch":
        texts = [rng.choice(REVIEWS) for _ in range(rng.randint(2, 20))]
        r = requests.post(f"{url}/v1/predict", json={"texts": texts}, timeout=30)
    elif kind == "v2":
        body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": REVIEWS[:3]}]}
        r = requests.post(f"{url}/v2/models/sentiment/infer", json=body, timeout=30)
        if r.status_code == 200:
            out = {o["name"]: o["data"] for o in r.json()["outputs"]}
            preds = [
                {"label": lab, "probability": p}
                for lab, p in zip(out["label"], out["probability"], strict=True)
            ]
            return kind, r.status_code, preds
        return kind, r.status_code, []
    elif kind == "invalid":
        r = requests.post(f"{url}/v1/predict", json={"text": ""}, timeout=30)
    else:
        r = requests.get(f"{url}/no/such/page/{rng.randint(0, 10**9)}", timeout=30)
    preds = r.json()["predictions"] if r.status_code == 200 else []
    return kind, r.status_code, preds


def test_counters_and_histograms_are_exact_over_two_workers(small_model_dir: Path, tmp_path: Path) -> None:
    model = SentimentModel.load(small_model_dir)
    kinds = ["single"] * 300 + ["batch"] * 100 + ["v2"] * 50 + ["invalid"] * 40 + ["unknown"] * 30
    random.Random(7).shuffle(kinds)
    with ApiServer(small_model_dir, tmp_path, workers=2) as server:
        rngs = [random.Random(i) for i in range(len(kinds))]
        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(
                pool.map(lambda a: _one_request(server.url, a[0], a[1]), zip(kinds, rngs, strict=True))
            )
        m = _scrape(server.url)
        # both workers answered: each wrote its own sample files
        pids_with_samples = {int(p.stem.rsplit("_", 1)[1]) for p in server.metrics_dir.glob("counter_*.db")}
        assert len(pids_with_samples & server.worker_pids()) == 2

    status = Counter((kind, code) for kind, code, _ in results)
    assert status == Counter({("single", 200): 300, ("batch", 200): 100, ("v2", 200): 50,
                              ("invalid", 422): 40, ("unknown", 404): 30})  # fmt: skip

    def value(name: str, **labels: str) -> float:
        return m.get((name, frozenset(labels.items())), 0.0)

    assert value("app_request_count_total", method="POST", endpoint="/v1/predict", http_status="200") == 400
    assert value("app_request_count_total", method="POST", endpoint="/v1/predict", http_status="422") == 40
    assert (
        value("app_request_count_total", method="POST", endpoint="/v2/models/{name}/infer", http_status="200")
        == 50
    )
    assert value("app_request_count_total", method="GET", endpoint="other", http_status="404") == 30
    assert value("app_request_latency_seconds_count", method="POST", endpoint="/v1/predict") == 440
    assert (
        value("app_request_latency_seconds_bucket", method="POST", endpoint="/v1/predict", le="+Inf") == 440
    )

    predictions = [p for _, _, preds in results for p in preds]
    labels = Counter(str(p["label"]) for p in predictions)
    assert value("model_prediction_count_total", prediction="positive") == labels["positive"]
    assert value("model_prediction_count_total", prediction="negative") == labels["negative"]
    assert value("model_positive_probability_count") == len(predictions)
    assert value("model_positive_probability_sum") == pytest.approx(
        sum(float(p["probability"]) for p in predictions), rel=1e-9
    )
    below_half = sum(float(p["probability"]) <= 0.5 for p in predictions)
    assert value("model_positive_probability_bucket", le="0.5") == below_half
    assert value("model_input_tokens_count") == len(predictions)
    scores = model.score(REVIEWS)
    tokens_by_text = dict(zip(REVIEWS, scores.n_tokens.tolist(), strict=True))
    assert value("model_input_tokens_sum") > 0 and min(tokens_by_text.values()) > 0

    # the scrape itself is the only request in flight; the gauges describe the served model
    assert value("app_requests_in_flight") == 1
    assert value("model_ready") == 1
    assert value("model_baseline_positive_share") == model.card["baseline"]["positive_share"]
    info = [k for k in m if k[0] == "model_info"]
    assert len(info) == 1 and dict(info[0][1])["version"] == model.version and m[info[0]] == 1


def test_recycled_workers_keep_counts_exact_and_files_bounded(small_model_dir: Path, tmp_path: Path) -> None:
    """gunicorn recycles workers (max_requests); their samples survive, their files do not pile up."""
    with ApiServer(small_model_dir, tmp_path, workers=2, GUNICORN_MAX_REQUESTS="40") as server:
        rng = random.Random(7)
        labels: Counter[str] = Counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _kind, status, preds in pool.map(
                lambda _: _one_request(server.url, "single", rng), range(600)
            ):
                assert status == 200
                labels.update(p["label"] for p in preds)
        # 600 requests at 40 per worker: well over ten workers were recycled
        samples = _scrape(server.url)
        predicted = {
            dict(key)["prediction"]: value
            for (name, key), value in samples.items()
            if name == "model_prediction_count_total"
        }
        assert predicted == {label: float(n) for label, n in labels.items()}
        ok = sum(
            value
            for (name, key), value in samples.items()
            if name == "app_request_count_total"
            and dict(key).get("endpoint") == "/v1/predict"
            and dict(key).get("http_status") == "200"
        )
        assert ok == 600
        files = list(server.metrics_dir.glob("*.db"))
        live = server.worker_pids() | {server.pid}
        # per live process a few files, plus one archive per metric type
        dead = [
            f
            for f in files
            if f.stem.rsplit("_", 1)[-1].isdigit() and int(f.stem.rsplit("_", 1)[-1]) not in live
        ]
        assert not dead, f"files of dead workers left behind: {sorted(f.name for f in dead)}"
