"""``sentiment loop``: the production loop end to end, on real reviews, in a scratch project.

1. train and serve a champion (gunicorn, ``sentiment serve``) on clear-cut reviews;
2. replay a labelled stream of nuanced reviews of other movies (see :mod:`.replay`) while a real
   Prometheus evaluates the project's rules; label part of it through ``/v1/feedback``;
3. wait for ``SentimentModelLiveAccuracyLow`` to go pending;
4. ``sentiment feedback export``, ``train``, ``evaluate``, ``register``, ``compare``, ``promote``,
   ``export`` (the real CLI, the scratch project's own MLflow store);
5. reload the server (SIGHUP) under traffic, counting failed requests;
6. replay the rest of the stream and measure live accuracy again.

Writes ``summary.json``, ``accuracy.csv`` and ``accuracy.png`` to the output folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import requests

from sentiment_mlops.workspace.loop_report import write_report
from sentiment_mlops.workspace.prometheus import LocalPrometheus
from sentiment_mlops.workspace.replay import Replay, Window, build_data, wait_for
from sentiment_mlops.workspace.scratch import Project, Server

log = logging.getLogger(__name__)

ALERT = "SentimentModelLiveAccuracyLow"


def _reload_under_traffic(server: Server, new_version: str) -> dict[str, Any]:
    """SIGHUP the master while a client keeps predicting; every answer must be a 200."""
    statuses: dict[int, int] = {}
    stop = threading.Event()

    def hammer() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                code = session.post(
                    f"{server.url}/v1/predict", json={"text": "A fine film."}, timeout=30
                ).status_code
            except requests.RequestException:
                code = 0  # a refused, reset or timed-out request is a failed request too
            statuses[code] = statuses.get(code, 0) + 1

    thread = threading.Thread(target=hammer)
    thread.start()
    time.sleep(1.0)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    took = wait_for(lambda: server.version() == new_version, 120, f"serving model {new_version}")
    time.sleep(2.0)  # old workers drain while the client goes on
    stop.set()
    thread.join()
    failed = sum(n for code, n in statuses.items() if code != 200)
    return {"requests": sum(statuses.values()), "failed": failed, "seconds_to_new_model": round(took, 2)}


def _observe(prom: LocalPrometheus) -> Any:
    def on_window(window: Window) -> None:
        window.prometheus_live = prom.first_value("max(namespace_job:model_live_accuracy:ratio_rate5m)")
        window.prometheus_estimated = prom.first_value(
            "max(namespace_job:model_estimated_accuracy:ratio_rate5m)"
        )
        log.info(
            "%s window: %d reviews, live %.3f, estimated %.3f (Prometheus 5 m: %s / %s)",
            window.phase,
            window.reviews,
            window.live,
            window.estimated,
            window.prometheus_live,
            window.prometheus_estimated,
        )

    return on_window


def _pooled(windows: list[Window], phase: str) -> float:
    right = sum(w.labelled_right for w in windows if w.phase == phase)
    total = sum(w.labelled for w in windows if w.phase == phase)
    return right / total if total else float("nan")


def _live_by_version(prom: LocalPrometheus, version: str) -> float | None:
    agree = (
        f'sum(model_feedback_total{{model_version="{version}",predicted="positive",actual="positive"}}'
        f' or model_feedback_total{{model_version="{version}",predicted="negative",actual="negative"}})'
    )
    total = prom.first_value(f'sum(model_feedback_total{{model_version="{version}"}})')
    right = prom.first_value(agree)
    return (right or 0.0) / total if total else None


def run(
    archive: Path, out: Path, workdir: Path, repo_params: Path, n_stream: int, seed: int = 42
) -> dict[str, Any]:
    """The whole loop; returns (and writes) the summary."""
    from sentiment_mlops.data.archive import read_archive

    started = time.monotonic()
    project = Project(workdir, repo_params)
    data = build_data(read_archive(archive), n_train=2000, n_test=3000, n_stream=n_stream, seed=seed)
    project.write_data(data)
    cut = int(0.55 * len(data.stream))
    before, after = data.stream.iloc[:cut], data.stream.iloc[cut:]
    for step in ("split", "train", "evaluate", "register", "promote", "export"):
        project.cli(step)
    champion_card = json.loads((workdir / "models" / "export" / "card.json").read_text())

    with Server(project) as server, LocalPrometheus(workdir, f"127.0.0.1:{server.port}") as prom:
        champion = server.version()
        wait_for(lambda: prom.first_value('up{job="sentiment-api"}') == 1.0, 60, "scraping the API")
        replay = Replay(server.url, label_share=0.8, seed=seed)
        replay.run(before, "champion", _observe(prom))
        pending_after = wait_for(
            lambda: prom.alert_state(ALERT) in ("pending", "firing"), 90, f"{ALERT} pending"
        )
        alert = {"state": prom.alert_state(ALERT), "seconds_after_replay": round(pending_after, 1)}
        time.sleep(3.0)  # > the log's flush interval: every feedback row is in a segment

        export = project.cli("feedback", "export", "--log", str(server.log_dir)).split()
        for step in ("train", "evaluate", "register"):
            project.cli(step)
        project.cli("compare")
        comparison = json.loads((workdir / "reports" / "compare.json").read_text())
        project.cli("promote")
        # the champion as it served, kept to score the rest of the stream side by side afterwards
        shutil.copytree(workdir / "models" / "export", workdir / "models" / "previous-champion")
        project.cli("export")
        challenger = json.loads((workdir / "models" / "export" / "card.json").read_text())
        reload = _reload_under_traffic(server, str(challenger["registry"]["version"]))

        replay.run(after, "challenger", _observe(prom))
        time.sleep(2.0)
        served = server.metric("model_prediction_count_total")
        dropped = server.metric("prediction_log_dropped_total")
        feedback_sent = server.metric("model_feedback_total") + server.metric(
            "model_feedback_unmatched_total"
        )
        prom_live = {
            "champion": _live_by_version(prom, champion),
            "challenger": _live_by_version(prom, server.version()),
        }
    # the server has stopped (SIGTERM): its workers drained their buffers
    from sentiment_mlops.data.feedback import read_log

    logged = len(read_log(str(server.log_dir), "predictions"))
    rest = _paired_on_rest(workdir, after)
    windows = replay.windows
    production = comparison["sets"]["production_window"]
    gaps = [abs(w.estimated - w.live) for w in windows if w.labelled]
    summary = {
        "served": int(served),
        "logged": logged,
        "dropped": int(dropped),
        "lost": int(served) - logged - int(dropped),
        "feedback": int(feedback_sent),
        "stream": {
            "reviews": len(data.stream),
            "before_promotion": len(before),
            "after_promotion": len(after),
            "stars": sorted({int(s) for s in data.stream["stars"]}),
            "movies": int(data.stream["movie"].nunique()),
            "movies_shared_with_test_or_training": 0,
            "label_share": replay.label_share,
        },
        "champion": {"version": champion, "validation_accuracy": champion_card["validation"]["accuracy"]},
        "challenger": {
            "version": str(challenger["registry"]["version"]),
            "sources": challenger.get("sources"),
        },
        "live_accuracy_before": round(_pooled(windows, "champion"), 4),
        "live_accuracy_after": round(_pooled(windows, "challenger"), 4),
        "live_accuracy_by_version_prometheus": prom_live,
        # the same reviews scored by both: what the champion would have scored on the rest
        "rest_of_stream_paired": rest,
        "estimated_accuracy_mae": round(sum(gaps) / len(gaps), 4),
        "alert": alert,
        "feedback_export": {k: int(v) for k, v in (item.split("=", 1) for item in export)},
        "challenger_gain_on_production_window": production["difference"],
        "production_window_mcnemar_p_value": production["mcnemar"]["p_value"],
        "production_window": production,
        "imdb_test": comparison["sets"]["imdb_test"],
        "reload": reload,
        "http_statuses": {str(k): v for k, v in sorted(replay.statuses.items())},
        "seconds": round(time.monotonic() - started, 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    write_report(out, summary, windows)
    return summary


def _paired_on_rest(workdir: Path, rest: Any) -> dict[str, Any]:
    """Champion and challenger on every review of the stream after the promotion (paired)."""
    from sentiment_mlops.model.artifact import SentimentModel
    from sentiment_mlops.training.compare import score_set

    champion = SentimentModel.load(workdir / "models" / "previous-champion")
    challenger = SentimentModel.load(workdir / "models" / "export")
    return score_set(champion, challenger, rest["text"].tolist(), rest["label"].to_numpy())


def clean(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
