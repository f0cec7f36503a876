"""The serving benchmark's figures: the medians of the rounds, the paired comparisons (the
prediction log and the shadow model against the plain service, round by round), memory, start
times and the commands that produced them, as ``reports/bench/serve.json`` holds them."""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
from typing import Any

import numpy as np

from loadgen import WrkResult
from sentiment_mlops.config import SHADOW_MODEL_URI_ENV
from serve_inputs import BATCH_SIZE

NOTE = (
    "wrk runs on the same machine as the servers and competes with them for the CPU "
    "(the same for every server): absolute figures are a floor for a pod with its own cores; "
    "the ratios are the comparison."
)
TARGETS = {
    "ratio_vs_mlflow": 8.0,
    "batch_reviews_per_s": 15_000,
    "rss_mb_per_worker": 200,
    "start_to_ready_s": 3,
    "prediction_log_throughput_ratio": 0.90,  # at least
    "prediction_log_p99_delta_ms": 1.0,  # at most
    "prediction_log_dropped": 0,
    "shadow_throughput_ratio": 0.85,  # at least
}


def paired(base: list[WrkResult], other: list[WrkResult]) -> dict[str, Any]:
    """``other`` against ``base``, round by round (the two ran back to back in each round, so both
    saw the same load): the median of the per-round throughput ratios and p99 differences."""
    ratios = [o.rps / b.rps for b, o in zip(base, other, strict=True)]
    deltas = [o.p99_ms - b.p99_ms for b, o in zip(base, other, strict=True)]
    return {
        "throughput_ratio": round(statistics.median(ratios), 3),
        "p99_delta_ms": round(statistics.median(deltas), 3),
        "throughput_ratio_per_round": [round(r, 3) for r in ratios],
        "p99_delta_ms_per_round": [round(d, 3) for d in deltas],
    }


def _variant(rounds: dict[str, list[WrkResult]], key: str, suffix: str) -> dict[str, Any]:
    """The median figures of one variant of our server and its paired comparison with the plain one."""
    if key not in rounds:
        return {f"rps_{suffix}": None, f"p50_ms_{suffix}": None, f"p99_ms_{suffix}": None}
    med = WrkResult.median(rounds[key])
    pair = paired(rounds["ours_single"], rounds[key])
    return {
        f"rps_{suffix}": round(med.rps, 1),
        f"p50_ms_{suffix}": round(med.p50_ms, 3),
        f"p99_ms_{suffix}": round(med.p99_ms, 3),
        f"{suffix}_throughput_ratio": pair["throughput_ratio"],
        f"{suffix}_p99_delta_ms": pair["p99_delta_ms"],
        f"{suffix}_paired_rounds": pair,
    }


def figures(
    args: argparse.Namespace,
    *,
    rounds: dict[str, list[WrkResult]],
    servers: dict[str, Any],
    starts: list[float],
    memory: dict[str, Any],
    log_counts: dict[str, int],
    shadow_counts: dict[str, int] | None,
    shadow_note: str | None,
    reviews: list[str],
    batches: list[list[str]],
    model_version: str,
    loadavg_start: list[float],
    loadavg_end: list[float],
) -> dict[str, Any]:
    single, baseline, batch = (
        WrkResult.median(rounds[k]) for k in ("ours_single", "mlflow_single", "ours_batch")
    )
    reference = WrkResult.median(rounds["bare_flask_single"]) if "bare_flask_single" in rounds else None
    master, per_worker = memory["per_worker"]
    our, theirs = servers["ours"], servers["mlflow"]
    log = _variant(rounds, "ours_single_log", "prediction_log")
    shadow = _variant(rounds, "ours_single_shadow", "shadow")
    return {
        "rps": round(single.rps, 1),
        "mlflow_rps": round(baseline.rps, 1),
        "ratio_vs_mlflow": round(single.rps / baseline.rps, 2),
        "p50_ms": round(single.p50_ms, 3),
        "p99_ms": round(single.p99_ms, 3),
        "mlflow_p50_ms": round(baseline.p50_ms, 3),
        "mlflow_p99_ms": round(baseline.p99_ms, 3),
        **log,
        # every review the logging server scored (warm-ups and checks included): logged or dropped;
        # lost = served - logged - dropped (0 without a SIGKILL)
        "prediction_log_served": log_counts["served"],
        "prediction_log_logged": log_counts["logged"],
        "prediction_log_dropped": log_counts["dropped"],
        "prediction_log_lost": log_counts["served"] - log_counts["logged"] - log_counts["dropped"],
        **shadow,
        # requests the shadow scored beside the champion, and its scoring errors (must be 0)
        "shadow_scored": shadow_counts["scored"] if shadow_counts else None,
        "shadow_served": shadow_counts["served"] if shadow_counts else None,
        "shadow_errors": shadow_counts["errors"] if shadow_counts else None,
        "shadow_note": shadow_note or "the shadow is a copy of the served model: the same scoring work",
        "batch_size": BATCH_SIZE,
        "batch_rps": round(batch.rps, 1),
        "batch_reviews_per_s": round(batch.rps * BATCH_SIZE),
        "batch_p50_ms": round(batch.p50_ms, 3),
        "batch_p99_ms": round(batch.p99_ms, 3),
        "rss_mb_per_worker": max(w["rss_mb"] for w in per_worker),
        "pss_mb_per_worker": max(w["pss_mb"] for w in per_worker),
        "workers_memory_mb": per_worker,
        "master_memory_mb": master,
        "server_memory_mb": {"idle": memory["idle"], "after_load": memory["after_load"]},
        "start_to_ready_s": round(statistics.median(starts), 2),
        "start_to_ready_runs_s": [round(s, 2) for s in starts],
        "mlflow_start_to_ready_s": round(theirs.start_to_ready_s, 2),
        "workers": args.workers,
        "model_version": model_version,
        "single_reviews": len(reviews),
        "single_review_chars": [len(t) for t in reviews],
        "batch_review_chars_mean": round(float(np.mean([len(t) for b in batches for t in b]))),
        "bare_flask_rps": round(reference.rps, 1) if reference else None,
        "share_of_bare_flask": round(single.rps / reference.rps, 3) if reference else None,
        "rounds": args.rounds,
        "round_order": (
            "per round: ours plain, with the prediction log and with the shadow back to back, the "
            "order rotated by one each round; then mlflow, the batch and bare Flask"
        ),
        "wrk_rounds": {k: [r.summary() for r in runs] for k, runs in rounds.items()},
        "command": shlex.join(["python", "bench/bench_serve.py", *sys.argv[1:]]),  # what wrote this report
        "commands": {
            "ours_server": shlex.join(our.argv),
            "mlflow_server": shlex.join(theirs.argv),
            "ours_single": single.command,
            "mlflow_single": baseline.command,
            "ours_batch": batch.command,
            "ours_prediction_log_env": "SENTIMENT_PREDICTION_LOG=<temporary folder> (else off)",
            "ours_shadow_env": (
                f"{SHADOW_MODEL_URI_ENV}=<a copy of the model's folder>" if shadow_counts else None
            ),
            "bare_flask_server": shlex.join(servers["bare"].argv) if reference else None,
            "bare_flask_single": reference.command if reference else None,
            "warmup": f"the same wrk command with -d{args.warmup}s, just before each",
            "bodies": (
                f"single: the {len(reviews)} test reviews nearest the median length, half of each label, "
                f"one per line; batch: {args.batches} bodies of {BATCH_SIZE} test reviews drawn at random "
                "(numpy seed 0); written by this script to a temporary folder"
            ),
        },
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg_end,
        "cpus": os.cpu_count(),
        "note": NOTE,
        "targets": TARGETS,
    }
