"""The rules on a real Prometheus: it scrapes a live gunicorn app (2 workers) on loopback every second,
evaluates deploy/monitoring/prometheus/rules.yml unchanged, and answers queries about traffic whose
every request, class and timestamp the test knows.

The scenario (one Prometheus, one server, about two minutes):

1. balanced: 120 clearly positive and 120 clearly negative reviews. The positive share sits near the
   model card's baseline, so with more than the 200 predictions the drift alerts ask for, neither
   drift alert may be pending.
2. skewed and paced: negative reviews only, at a fixed 20 requests per second for 75 s (an open-loop
   schedule, so a slow response does not slow the rate). The reactive KEDA trigger's 1-minute
   window then lies entirely inside steady traffic, and the positive share of the last hour falls
   to about 7%, far from the baseline.

The drift alerts hold for 15 minutes before firing, so the test checks that they reach
``pending`` with the real rules, rather than rewriting the rules to fire sooner.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from sentiment_mlops.workspace.monitoring import (
    KEDA_TRIGGER_QUERY,
    KEDA_TRIGGER_RECORD,
    load_rule_groups,
)
from sentiment_mlops.workspace.repository import monitoring_paths
from tests.integration.prometheus_server import Prometheus
from tests.integration.serving_server import ApiServer

pytestmark = pytest.mark.integration

POSITIVE = [
    "An excellent, wonderful film. Brilliant acting and a beautiful story; I loved every minute.",
    "A masterpiece: moving, funny and superbly acted. One of the best films I have ever seen.",
    "Great movie, great cast, a perfect and touching script. Highly recommended.",
]
NEGATIVE = [
    "Awful, boring and stupid. The worst film I have ever seen; a terrible waste of time.",
    "Terrible acting, a dull plot and bad dialogue. Avoid this horrible mess.",
    "Worst movie of the year: poorly written, badly acted, utterly pointless and boring.",
]
BALANCED_PER_CLASS = 120
RATE = 20.0  # requests per second in the paced phase
PACED_SECONDS = 75.0  # > the trigger's 1 minute window, so the window sees only steady traffic
WINDOW = 60.0
PREDICT = "/v1/predict"
DRIFT_ALERTS = ("SentimentPredictionDrift", "SentimentProbabilityDrift")


@dataclass
class Traffic:
    """What the client sent and got back."""

    sent: dict[str, int] = field(default_factory=lambda: {"positive": 0, "negative": 0})
    statuses: list[int] = field(default_factory=list)
    wrong_labels: list[tuple[str, str]] = field(default_factory=list)
    paced_done: list[float] = field(default_factory=list)  # epoch seconds each paced response came back
    labelled: list[tuple[str, str]] = field(default_factory=list)  # (prediction id, true label)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return len(self.statuses)

    def predict(self, session: requests.Session, url: str, text: str, expected: str) -> float:
        response = session.post(f"{url}{PREDICT}", json={"text": text}, timeout=30)
        done = time.time()
        prediction = response.json()["predictions"][0] if response.status_code == 200 else {}
        label = prediction.get("label")
        with self.lock:
            if "id" in prediction:
                self.labelled.append((prediction["id"], expected))
            self.statuses.append(response.status_code)
            self.sent[expected] += 1
            if label != expected:
                self.wrong_labels.append((text, str(label)))
        return done


@dataclass
class Observed:
    prometheus: Prometheus
    traffic: Traffic
    balanced_drift_alerts: dict[str, list[dict[str, Any]]]
    balanced_predictions_1h: float
    balanced_positive_share_1h: float
    paced_started: float
    paced_ended: float
    card_baseline: float
    feedback_sent: int  # labels sent, all for balanced predictions (all right)


def _balanced(server: ApiServer, traffic: Traffic) -> None:
    jobs = [("positive", POSITIVE[i % 3]) for i in range(BALANCED_PER_CLASS)]
    jobs += [("negative", NEGATIVE[i % 3]) for i in range(BALANCED_PER_CLASS)]
    sessions = threading.local()

    def send(job: tuple[str, str]) -> float:
        if not hasattr(sessions, "s"):
            sessions.s = requests.Session()
        return traffic.predict(sessions.s, server.url, job[1], job[0])

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(send, jobs))


def _feedback(server: ApiServer, items: list[tuple[str, str]]) -> None:
    """The true labels of earlier predictions, as a client sends them later."""
    body = {"feedback": [{"id": i, "label": label} for i, label in items]}
    response = requests.post(f"{server.url}/v1/feedback", json=body, timeout=30)
    assert response.status_code == 202, response.text
    assert response.json()["matched"] == len(items)


def _paced(server: ApiServer, traffic: Traffic, seconds: float, rate: float) -> tuple[float, float]:
    """Open loop: request i is sent at start + i / rate whatever the previous responses took."""
    total = int(seconds * rate)
    counter = itertools.count()
    start = time.time() + 0.5

    def worker() -> None:
        session = requests.Session()
        while (i := next(counter)) < total:
            delay = start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            done = traffic.predict(session, server.url, NEGATIVE[i % 3], "negative")
            with traffic.lock:
                traffic.paced_done.append(done)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return start, time.time()


@pytest.fixture(scope="module")
def observed(small_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    work = tmp_path_factory.mktemp("prometheus-live")
    with (
        ApiServer(small_model_dir, work, workers=2) as server,
        Prometheus(work, f"127.0.0.1:{server.port}") as prom,
    ):
        # The class counters exist (at 0) from the first scrape, before any prediction, so rate()
        # sees every prediction; also the baseline from the model card must be there.
        prom.wait_for(lambda: prom.query('model_prediction_count_total{job="sentiment-api"}'), 30, "scraping")
        prom.wait_for(lambda: prom.query("namespace_job:model_baseline_positive_share:max"), 30, "recording")
        # likewise the four (predicted, actual) feedback series of the served model, at 0 before any
        # label: the first labels then count as an increase
        feedback_series = 'model_feedback_total{job="sentiment-api"} == 0'
        prom.wait_for(lambda: len(prom.query(feedback_series)) == 4, 30, "feedback series at 0")
        traffic = Traffic()

        _balanced(server, traffic)
        # labels for every balanced prediction, in one batch, as a client sends them later
        feedback_sent = len(traffic.labelled)
        _feedback(server, traffic.labelled)
        prom.wait_for_scrape_after(time.time())
        # the alert rules read recorded series; give both groups a few evaluations after the data
        counted = f"namespace_job:model_prediction_count:rate1h * 3600 >= {2 * BALANCED_PER_CLASS}"
        prom.wait_for(lambda: prom.query(counted), 15, "counting the balanced predictions")
        time.sleep(3)
        balanced_alerts = {
            n: prom.alerts(n) for n in ("SentimentPredictionDrift", "SentimentProbabilityDrift")
        }
        balanced_count = prom.value("namespace_job:model_prediction_count:rate1h * 3600")
        balanced_share = prom.value("namespace_job:model_positive_share:ratio_rate1h")

        started, ended = _paced(server, traffic, PACED_SECONDS, RATE)
        prom.wait_for_scrape_after(ended)
        time.sleep(3)  # a few rule evaluations after the final scrape
        card = json.loads((small_model_dir / "card.json").read_text())
        baseline = float(card["baseline"]["positive_share"])
        yield Observed(
            prom,
            traffic,
            balanced_alerts,
            balanced_count,
            balanced_share,
            started,
            ended,
            baseline,
            feedback_sent,
        )


def test_every_request_answered_with_the_expected_class(observed: Observed) -> None:
    traffic = observed.traffic
    assert traffic.requests == 2 * BALANCED_PER_CLASS + int(PACED_SECONDS * RATE)
    assert set(traffic.statuses) == {200}
    assert traffic.wrong_labels == []


def test_prometheus_counts_exactly_the_requests_the_client_sent(observed: Observed) -> None:
    prom, traffic = observed.prometheus, observed.traffic
    counted = prom.value(f'sum(app_request_count_total{{job="sentiment-api",endpoint="{PREDICT}"}})')
    print(f"Prometheus counted {counted:.0f} {PREDICT} requests; the client sent {traffic.requests}")
    assert counted == traffic.requests
    by_class = {
        r["metric"]["prediction"]: float(r["value"][1])
        for r in prom.query('model_prediction_count_total{job="sentiment-api"}')
    }
    assert by_class == {"positive": traffic.sent["positive"], "negative": traffic.sent["negative"]}


def test_keda_trigger_reads_the_paced_rate_within_ten_percent(observed: Observed) -> None:
    prom, traffic = observed.prometheus, observed.traffic
    # The last second of paced traffic; the window [at - 60 s, at] then starts 14 s into it.
    at = observed.paced_ended - 1.0
    assert at - WINDOW > observed.paced_started + 5.0
    client_rate = sum(at - WINDOW < t <= at for t in traffic.paced_done) / WINDOW
    keda = prom.value(KEDA_TRIGGER_QUERY, at=at)
    recorded = prom.value(KEDA_TRIGGER_RECORD, at=at)
    print(f"KEDA trigger {keda:.3f}/s, recorded {recorded:.3f}/s, client {client_rate:.3f}/s, pace {RATE}/s")
    assert client_rate == pytest.approx(RATE, rel=0.05), "the client did not hold its pace"
    assert keda == pytest.approx(RATE, rel=0.10)
    assert keda == pytest.approx(client_rate, rel=0.10)
    # the recording rule is the same expression, evaluated within a second of the query
    assert recorded == pytest.approx(keda, rel=0.10)


def test_every_recording_rule_of_the_api_evaluates(observed: Observed) -> None:
    prom = observed.prometheus
    groups = load_rule_groups(monitoring_paths().rules)
    # The scaler's group is about the predictive scaler, and the shadow's group about a shadow
    # model beside the champion (tests/integration/test_shadow_scoring.py): this test runs neither.
    records = [
        r["record"]
        for g in groups
        if g["name"].startswith("sentiment-api.") and g["name"] != "sentiment-api.shadow"
        for r in g["rules"]
        if "record" in r
    ]
    assert len(records) >= 20
    empty = [name for name in records if not prom.query(name)]
    assert empty == []
    # and the values match the traffic: shares of the last hour from the client's own counts
    traffic = observed.traffic
    share = traffic.sent["positive"] / traffic.requests
    assert prom.value("namespace_job:model_positive_share:ratio_rate1h") == pytest.approx(share, abs=0.01)
    assert prom.value("namespace_job:app_request_errors_5xx:ratio_rate5m") == 0.0
    # the baseline is the model card's
    assert prom.value("namespace_job:model_baseline_positive_share:max") == observed.card_baseline
    # every labelled prediction was right (the client checked each label), all in the 5m window
    # (increase() extrapolates a little past the last sample, hence the tolerance)
    assert prom.value("namespace_job:model_feedback:increase5m") == pytest.approx(
        observed.feedback_sent, rel=0.05
    )
    assert prom.value("namespace_job:model_live_accuracy:ratio_rate5m") == 1.0
    estimated = prom.value("namespace_job:model_estimated_accuracy:ratio_rate5m")
    assert 0.5 < estimated <= 1.0
    gap = prom.value("namespace_job:model_accuracy_estimate_gap:rate5m")
    assert gap == pytest.approx(estimated - 1.0, abs=1e-3)


def test_drift_alerts_stay_quiet_on_balanced_traffic(observed: Observed) -> None:
    # enough predictions for the alerts to apply, and a share near the baseline
    assert observed.balanced_predictions_1h >= 200
    assert observed.balanced_positive_share_1h == pytest.approx(0.5, abs=0.05)
    assert observed.balanced_drift_alerts == {name: [] for name in DRIFT_ALERTS}


def test_drift_alerts_go_pending_when_traffic_is_skewed_to_one_class(observed: Observed) -> None:
    prom = observed.prometheus
    baseline = prom.value("namespace_job:model_baseline_positive_share:max")
    share = prom.value("namespace_job:model_positive_share:ratio_rate1h")
    assert abs(share - baseline) > 0.15
    for name in DRIFT_ALERTS:
        alerts = prom.alerts(name)
        assert len(alerts) == 1, f"{name}: {alerts}"
        assert alerts[0]["state"] == "pending"  # `for: 15m` has not passed yet
        assert alerts[0]["labels"]["job"] == "sentiment-api"
        assert alerts[0]["labels"]["severity"] == "warning"
    # the same through the ALERTS series Prometheus writes (what Alertmanager-less setups query)
    states = prom.query('ALERTS{alertname="SentimentPredictionDrift"}')
    assert [s["metric"]["alertstate"] for s in states] == ["pending"]
