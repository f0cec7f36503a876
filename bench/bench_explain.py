"""The worst-case explained request, under the scoring limits alone (before) and under the explain
limits (after), side by side in one process, through the app's request path.

Before: one request may explain as many texts as it may score, so the largest is a 4 MiB body of
50,000-character reviews (83 of them), all explained. After: ``Limits.max_explain_texts`` texts of
``Limits.max_explain_chars`` characters. The texts are real test reviews, concatenated to length.
The time is one sync worker held by that one request (an Istio retry doubles it).

    python bench/bench_explain.py [--rounds 3] [--out reports/bench/explain.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from sentiment_mlops.config import Paths
from sentiment_mlops.data.splits import read_split
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.serving.app import create_app
from sentiment_mlops.serving.schemas import Limits


def _texts(reviews: list[str], count: int, chars: int) -> list[str]:
    """``count`` texts of exactly ``chars`` characters, cut from the concatenated reviews."""
    corpus = " ".join(reviews)
    while len(corpus) < count * chars:
        corpus += " " + corpus
    return [corpus[i * chars : (i + 1) * chars] for i in range(count)]


def _worst(limits: Limits) -> tuple[int, int]:
    """The most texts and characters per text one explained request may carry under ``limits``."""
    chars = limits.max_explain_chars
    per_text = chars + 16  # a little JSON around each text
    return min(limits.max_explain_texts, limits.max_body_bytes // per_text), chars


def _time(client, texts: list[str], rounds: int) -> dict[str, float | int]:
    body = json.dumps({"texts": texts, "explain": True})
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        r = client.post("/v1/predict", data=body, content_type="application/json")
        seconds.append(time.perf_counter() - started)
        assert r.status_code == 200, r.get_data(as_text=True)[:200]
    return {
        "texts": len(texts),
        "chars_per_text": len(texts[0]),
        "body_bytes": len(body.encode()),
        "seconds_median": round(sorted(seconds)[len(seconds) // 2], 3),
        "seconds_runs": [round(s, 3) for s in seconds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="default: reports/bench/explain.json")
    args = parser.parse_args()
    paths = Paths()
    model = SentimentModel.load(paths.model_dir)
    reviews = read_split(paths, "test")["text"].tolist()
    new = Limits()
    # The previous limits: explained requests were bounded like scored ones.
    old = Limits(max_explain_texts=new.max_texts, max_explain_chars=new.max_chars)
    load_before = os.getloadavg()[0]
    results = {}
    for name, limits in (("before", old), ("after", new)):
        app = create_app(
            model,
            {
                "MAX_EXPLAIN_TEXTS": limits.max_explain_texts,
                "MAX_EXPLAIN_CHARS": limits.max_explain_chars,
            },
        )
        count, chars = _worst(limits)
        results[name] = _time(app.test_client(), _texts(reviews, count, chars), args.rounds)
        print(f"{name}: {results[name]}")
    ratio = results["before"]["seconds_median"] / results["after"]["seconds_median"]
    report = {
        "what": "one explained /v1/predict request at the largest size the limits admit",
        "before": results["before"],
        "after": results["after"],
        "before_over_after": round(ratio, 1),
        "setup": {
            "rounds": args.rounds,
            "model": model.version,
            "path": "Flask test client, one process (no gunicorn, no network)",
            "cpus": os.cpu_count(),
            "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        },
    }
    out = args.out or paths.reports / "bench" / "explain.json"
    atomic_write_json(out, report)
    print(f"worst case: {ratio:.1f}x shorter -> {out}")


if __name__ == "__main__":
    main()
