"""Scoring speed of our model against a scikit-learn baseline, side by side in one process.

Baseline: Pipeline(CountVectorizer(ngram_range=(1, 3), binary=True), LogisticRegression), trained on
the same reviews our model was trained on. Both score the same test reviews: one at a time
(latency, ``predict_proba([x])``: what the service pays per review) and all at once (throughput).
Ours scores the whole batch on one thread and on two (``threads``, as ``SENTIMENT_KERNEL_THREADS``
sets it), the fastest of ``--rounds`` runs each, alternated, so the 2-thread ratio comes from the
same minutes of machine load. Also measured: the artifact's size and the peak RSS of a fresh
process that loads our model and scores a review.

    python bench/bench_model.py [--single 1000] [--rounds 3] [--out reports/bench/model.json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sentiment_mlops.config import Paths
from sentiment_mlops.data.splits import read_split
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.model import kernels
from sentiment_mlops.model.artifact import SentimentModel

# VmHWM (peak RSS) belongs to the process image, so a parent's size before exec does not leak in.
RSS_PROBE = """
import re, sys
from pathlib import Path
from sentiment_mlops.model.artifact import SentimentModel
model = SentimentModel.load(sys.argv[1])
model.predict(["A warm, funny and beautifully acted film."])
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) / 1024)
"""


def _latencies(score, reviews: list[str]) -> np.ndarray:
    out = np.empty(len(reviews))
    for i, review in enumerate(reviews):
        started = time.perf_counter()
        score([review])
        out[i] = time.perf_counter() - started
    return out


def _throughput(score, reviews: list[str]) -> float:
    started = time.perf_counter()
    score(reviews)
    return len(reviews) / (time.perf_counter() - started)


def _threaded(model: SentimentModel, reviews: list[str], rounds: int) -> dict[int, float]:
    """Reviews/s of the whole batch on 1 and 2 threads: each the fastest of ``rounds``, alternated."""
    best = {1: 0.0, 2: 0.0}
    for _ in range(rounds):
        for threads in (1, 2):
            rate = _throughput(lambda batch: model.probabilities(model.score(batch, threads)), reviews)  # noqa: B023
            best[threads] = max(best[threads], rate)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--single", type=int, default=1000, help="reviews scored one at a time")
    parser.add_argument("--rounds", type=int, default=3, help="runs of our whole batch per thread count")
    parser.add_argument("--out", type=Path, default=None, help="default: reports/bench/model.json")
    args = parser.parse_args()
    paths = Paths()
    if not (paths.model_dir / "card.json").is_file():
        sys.exit(f"error: no trained model at {paths.model_dir}: run `make repro` first")

    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    load_start = [round(x, 2) for x in os.getloadavg()]
    model = SentimentModel.load(paths.model_dir)
    train = read_split(paths, "train")
    if model.card.get("params", {}).get("train", {}).get("refit_on_full_train"):
        import pandas as pd

        train = pd.concat([train, read_split(paths, "validation")], ignore_index=True)
    test = read_split(paths, "test")
    texts, y = test["text"].tolist(), test["label"].to_numpy()

    print(f"training the baseline on {len(train):,} reviews ...", flush=True)
    started = time.perf_counter()
    baseline = Pipeline(
        [
            ("counts", CountVectorizer(ngram_range=(1, 3), binary=True)),
            ("lr", LogisticRegression(max_iter=1000)),
        ]
    ).fit(train["text"].tolist(), train["label"].to_numpy())
    baseline_fit_s = time.perf_counter() - started

    ours_proba = model.predict_proba
    base_proba = lambda batch: baseline.predict_proba(batch)[:, 1]  # noqa: E731
    ours_proba(texts[:10])  # compile and warm both before timing
    base_proba(texts[:10])

    sample = texts[: args.single]
    lat_ours, lat_base = _latencies(ours_proba, sample), _latencies(base_proba, sample)
    tput_threads = _threaded(model, texts, args.rounds)
    tput_ours, tput_base = tput_threads[1], _throughput(base_proba, texts)
    acc_ours = float(np.mean((ours_proba(texts) >= 0.5) == y))
    acc_base = float(np.mean((base_proba(texts) >= 0.5) == y))

    artifact_mb = sum(p.stat().st_size for p in paths.model_dir.iterdir()) / 2**20
    rss = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(paths.model_dir)], capture_output=True, text=True, check=True
    )
    result = {
        "speedup_single": round(float(np.median(lat_base) / np.median(lat_ours)), 1),
        "speedup_batch": round(tput_ours / tput_base, 1),
        "single_p50_us": round(float(np.median(lat_ours)) * 1e6, 1),
        "single_p99_us": round(float(np.percentile(lat_ours, 99)) * 1e6, 1),
        "batch_reviews_per_s": round(tput_ours),
        "batch_reviews_per_s_2_threads": round(tput_threads[2]),
        "batch_scaling_2_threads": round(tput_threads[2] / tput_ours, 2),
        "batch_rounds": args.rounds,
        "accuracy": round(acc_ours, 5),
        "baseline_single_p50_us": round(float(np.median(lat_base)) * 1e6, 1),
        "baseline_single_p99_us": round(float(np.percentile(lat_base, 99)) * 1e6, 1),
        "baseline_batch_reviews_per_s": round(tput_base),
        "baseline_accuracy": round(acc_base, 5),
        "baseline_fit_seconds": round(baseline_fit_s, 1),
        "artifact_mb": round(artifact_mb, 2),
        "loaded_peak_rss_mb": round(float(rss.stdout.strip()), 1),
        "test_reviews": len(texts),
        "single_reviews": len(sample),
        "model_version": model.version,
        "kernels": {**kernels.info().to_dict(), "module": Path(kernels.info().module).name},
        "weight_table": model.table.layout,
        "load_average_start": load_start,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    out = args.out or paths.reports / "bench" / "model.json"
    atomic_write_json(out, result)
    r = result
    rows = [
        ("", "ours", "scikit-learn", "ratio"),
        (
            "single p50 (µs)",
            f"{r['single_p50_us']:,.1f}",
            f"{r['baseline_single_p50_us']:,.1f}",
            f"{r['speedup_single']:.1f}x",
        ),
        ("single p99 (µs)", f"{r['single_p99_us']:,.1f}", f"{r['baseline_single_p99_us']:,.1f}", ""),
        (
            "batch, 1 thread",
            f"{r['batch_reviews_per_s']:,}",
            f"{r['baseline_batch_reviews_per_s']:,}",
            f"{r['speedup_batch']:.1f}x",
        ),
        (
            "batch, 2 threads",
            f"{r['batch_reviews_per_s_2_threads']:,}",
            "",
            f"{r['batch_scaling_2_threads']:.2f}x",
        ),
        ("test accuracy", f"{r['accuracy']:.4f}", f"{r['baseline_accuracy']:.4f}", ""),
    ]
    print()
    for name, ours, base, ratio in rows:
        print(f"{name:<18}{ours:>12}{base:>15}{ratio:>9}")
    print(
        f"artifact {r['artifact_mb']:.1f} MB, peak RSS after loading {r['loaded_peak_rss_mb']:.0f} MB",
        f"-> {out}",
    )
    k = r["kernels"]
    print(f"kernels: {k['implementation']} ({k['cpu_baseline']}, {r['weight_table']} weights); batch rows in "
          f"reviews/s, the 2-thread ratio against 1 thread; load average {r['load_average']}")  # fmt: skip


if __name__ == "__main__":
    main()
