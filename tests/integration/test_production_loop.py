"""The production loop, whole, as `make loop` runs it: gunicorn, a real Prometheus and the real CLI.

A champion trained on clear-cut reviews serves a stream of nuanced (4 and 7 star) reviews of other
movies; labels for most of it arrive through /v1/feedback. The live-accuracy alert must go pending
on Prometheus; the exported feedback must train a challenger that is better on the held-out
production window (McNemar), is promoted and reloaded without a failed request, and is measurably
better on the rest of the stream. Every prediction served is logged or counted as dropped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_loop_detects_retrains_promotes_and_recovers(imdb_archive: Path, tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus not found: apt-get install -y prometheus")
    out = tmp_path / "report"
    sentiment = Path(sys.executable).with_name("sentiment")
    cmd = [
        str(sentiment),
        "loop",
        "--archive",
        str(imdb_archive),
        "--out",
        str(out),
        "--workdir",
        str(tmp_path / "w"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-5000:]
    summary = json.loads((out / "summary.json").read_text())

    assert summary["alert"]["state"] in ("pending", "firing")
    assert summary["stream"]["stars"] == [4, 7]
    # the champion is measurably worse on the stream than on validation, the challenger better
    assert summary["live_accuracy_before"] < summary["champion"]["validation_accuracy"] - 0.05
    # judged on the held-out production window, and on the rest of the stream, review by review
    assert summary["challenger_gain_on_production_window"] > 0
    assert summary["production_window_mcnemar_p_value"] < 0.05
    rest = summary["rest_of_stream_paired"]
    assert rest["difference"] > 0.01 and rest["mcnemar"]["p_value"] < 0.05
    # live accuracy after the promotion beats what the champion would have scored on those reviews
    assert summary["live_accuracy_after"] > rest["champion_accuracy"]
    # IMDB repeats a few texts across its splits: the leakage guard drops them from training
    assert summary["feedback_export"]["window"] >= 200 and summary["feedback_export"]["trained"] > 1000
    assert [s["name"] for s in summary["challenger"]["sources"]] == ["feedback"]
    # reload under traffic: no failed request; every answer of the replay a 2xx
    assert summary["reload"]["failed"] == 0 and summary["reload"]["requests"] > 0
    assert set(summary["http_statuses"]) <= {"200", "202"}
    # served = logged + dropped (+ lost, which is 0 without a SIGKILL)
    assert summary["lost"] == 0 and summary["dropped"] == 0
    assert summary["served"] == summary["logged"] > summary["stream"]["reviews"]
    assert 0 <= summary["estimated_accuracy_mae"] < 0.2
    assert (out / "accuracy.png").stat().st_size > 10_000
