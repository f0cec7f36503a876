"""The canary analysis on a real Prometheus: the AnalysisTemplate's own queries, read from the
rendered canary component, against three real gunicorn services on loopback.

- ``stable``: a real model trained on the 2,000-review sample;
- ``same``: the same model in a second service (a canary as good as stable);
- ``weak``: a real model trained on the first 60 reviews of the same sample (a worse canary).

One Prometheus scrapes the three every second, each target labelled with the pod-template-hash
label the ServiceMonitor keeps in the cluster. All three receive the same test reviews, one per
request, and the true label of each answer through ``POST /v1/feedback``. Then each metric's
query runs with canary-hash ``same`` and then ``weak``, and its successCondition is evaluated as
Argo does: the good canary passes every check, the weak one fails at least live accuracy.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml

from tests.integration.prometheus_server import Prometheus
from tests.integration.serving_server import ApiServer
from tests.integration.weak_model import train_weak_project
from tests.unit.test_canary_manifests import analysis_queries, passes, render_canary

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VERSIONS = ("stable", "same", "weak")
REVIEWS = 300


@pytest.fixture(scope="module")
def weak_model_dir(small_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model trained like the stable one, on the first 60 reviews of its training split."""
    return train_weak_project(small_project, tmp_path_factory.mktemp("weak-project")) / "models" / "model"


@pytest.fixture(scope="module")
def services(
    small_model_dir: Path, weak_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ApiServer]]:
    models = {"stable": small_model_dir, "same": small_model_dir, "weak": weak_model_dir}
    started: dict[str, ApiServer] = {}
    try:
        for version in VERSIONS:
            server = ApiServer(models[version], tmp_path_factory.mktemp(f"api-{version}"), workers=1)
            server.start()
            started[version] = server
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def prometheus(
    services: dict[str, ApiServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus-canary")
    server = Prometheus(workdir, f"127.0.0.1:{services['stable'].port}")
    config = yaml.safe_load(server.config_path.read_text())
    (job,) = config["scrape_configs"]
    # What the ServiceMonitor's podTargetLabels give each pod in the cluster.
    job["static_configs"] = [
        {"targets": [f"127.0.0.1:{s.port}"], "labels": {"rollouts_pod_template_hash": version}}
        for version, s in services.items()
    ]
    server.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    server.start()
    server.wait_ready()
    try:
        yield server
    finally:
        server.stop()


def _score(session: requests.Session, server: ApiServer, text: str) -> dict[str, str]:
    response = session.post(f"{server.url}/v1/predict", json={"text": text}, timeout=10)
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    return prediction


def _label(session: requests.Session, server: ApiServer, feedback: list[dict[str, str]]) -> None:
    answer = session.post(f"{server.url}/v1/feedback", json={"feedback": feedback}, timeout=10)
    assert answer.status_code == 202 and answer.json()["matched"] == len(feedback), answer.text


def _drive(services: dict[str, ApiServer], reviews: pd.DataFrame, prometheus: Prometheus) -> dict[str, float]:
    """Each review to every service in turn (the same traffic), its true label back in batches of
    25 while the traffic runs; each service's accuracy on its own answers, computed offline."""
    session = requests.Session()
    correct = dict.fromkeys(services, 0)
    pending: dict[str, list[dict[str, str]]] = {v: [] for v in services}
    # A counter first scraped with its final value shows no increase: one labelled request per
    # service first, scraped, so every series exists before the measured traffic.
    for server in services.values():
        _label(session, server, [{"id": _score(session, server, "A fine film.")["id"], "label": "positive"}])
    prometheus.wait_for_scrape_after(time.time())
    for i, (text, label) in enumerate(zip(reviews.text, reviews.label, strict=True), start=1):
        truth = "positive" if label == 1 else "negative"
        for version, server in services.items():
            prediction = _score(session, server, text)
            correct[version] += prediction["label"] == truth
            pending[version].append({"id": prediction["id"], "label": truth})
            if i % 25 == 0:
                _label(session, server, pending[version])
                pending[version] = []
        if i % 25 == 0:
            # Paced over ~30 scrapes, so rate()'s extrapolation at the edges of the window is small.
            time.sleep(2.5)
    for version, server in services.items():
        if pending[version]:
            _label(session, server, pending[version])
    prometheus.wait_for_scrape_after(time.time())
    return {version: n / len(reviews) for version, n in correct.items()}


def test_analysis_passes_an_equal_canary_and_fails_a_weaker_one(
    tmp_path: Path, small_project: Path, services: dict[str, ApiServer], prometheus: Prometheus
) -> None:
    test_df = pd.read_parquet(small_project / "data" / "processed" / "test.parquet")
    reviews = test_df.sample(n=REVIEWS, random_state=15)
    prometheus.wait_for(
        lambda: len(prometheus.query('up{job="sentiment-api"} == 1')) == len(services), 30, "scraping all"
    )
    accuracy = _drive(services, reviews, prometheus)
    objects = render_canary(tmp_path)
    outcome: dict[str, dict[str, tuple[float, bool]]] = {}
    for canary in ("same", "weak"):
        outcome[canary] = {}
        for name, (query, condition) in analysis_queries(
            objects, {"stable-hash": "stable", "canary-hash": canary}
        ).items():
            value = prometheus.value(query)
            outcome[canary][name] = (value, passes(condition, value) and not math.isnan(value))
    report = {"offline_accuracy": accuracy, "checks": outcome}
    (tmp_path / "analysis.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))  # the figures of the closing note (pytest -s)
    assert accuracy["same"] == accuracy["stable"] > accuracy["weak"] + 0.05, accuracy
    assert all(ok for _, ok in outcome["same"].values()), outcome["same"]
    # Live accuracy as the analysis sees it is the offline accuracy of the same answers (within
    # rate()'s extrapolation at the window's edges and the one warm-up label).
    live_gap = outcome["weak"]["live-accuracy"][0]
    assert live_gap == pytest.approx(accuracy["weak"] - accuracy["stable"], abs=0.02)
    assert not outcome["weak"]["live-accuracy"][1], outcome["weak"]
