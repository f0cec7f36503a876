"""Inputs and checks of the serving benchmark: its prerequisites (wrk, the exported model and the
registered champion, which must be the same model), the request bodies (real test reviews), the
shadow model's folder, and the checks that the servers answer correctly before they are timed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench_error import BenchError
from sentiment_mlops.config import Paths, load_params, mlflow_tracking_uri
from sentiment_mlops.data.splits import read_split
from sentiment_mlops.processes import Supervised

BATCH_SIZE = 100


def check_prerequisites(paths: Paths) -> tuple[str, str]:
    """wrk, the export and the registered champion (the same model); return (wrk, model version)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed: apt-get install -y wrk")
    card_path = paths.export_dir / "card.json"
    if not card_path.is_file():
        raise BenchError(
            f"no exported model at {paths.export_dir}: run `make pipeline`, then `sentiment export`"
        )
    exported = json.loads(card_path.read_text())["version"]

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name = load_params().registry.model_name
    client = MlflowClient(tracking_uri=mlflow_tracking_uri(paths))
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except MlflowException as exc:
        raise BenchError(
            f"no registered model {name}@champion in {mlflow_tracking_uri(paths)}: "
            f"run `make repro` (register + promote) ({exc.message})"
        ) from None
    registered = champion.tags.get("model_version_hash")
    if registered != exported:
        raise BenchError(
            f"{paths.export_dir} holds model {exported} but {name}@champion is {registered}: "
            "run `sentiment export` so both servers score the same model"
        )
    return wrk, exported


def median_reviews(paths: Paths, n: int) -> list[str]:
    """``n`` test reviews whose length is nearest the median, half of each label."""
    test = read_split(paths, "test")
    length = test["text"].str.len()
    test = test.assign(gap=(length - length.median()).abs()).sort_values("gap", kind="stable")
    labels = sorted(test["label"].unique())
    firsts = [test.loc[test["label"] == label, "text"].tolist() for label in labels]
    counts = [n // len(labels) + (i < n % len(labels)) for i in range(len(labels))]
    return [t for texts, k in zip(firsts, counts, strict=True) for t in texts[:k]]


def batch_bodies(paths: Paths, count: int, seed: int = 0) -> list[list[str]]:
    """``count`` batches of ``BATCH_SIZE`` test reviews drawn at random (all lengths, as they come)."""
    texts = read_split(paths, "test")["text"].to_numpy()
    rng = np.random.default_rng(seed)
    return [rng.choice(texts, BATCH_SIZE, replace=False).tolist() for _ in range(count)]


def ours_body(text: str) -> dict[str, Any]:
    return {"text": text}


def mlflow_body(text: str) -> dict[str, Any]:
    return {"dataframe_split": {"columns": ["text"], "data": [[text]]}}


def check_same_predictions(our: Supervised, theirs: Supervised, reviews: list[str]) -> None:
    """Both servers must answer with real, identical predictions before they are timed."""
    for text in reviews:
        a = requests.post(our.url + "/v1/predict", json=ours_body(text), timeout=30)
        b = requests.post(theirs.url + "/invocations", json=mlflow_body(text), timeout=30)
        if a.status_code != 200 or b.status_code != 200:
            raise BenchError(
                f"prediction failed: ours {a.status_code} {a.text[:200]}, "
                f"mlflow {b.status_code} {b.text[:200]}"
            )
        mine = a.json()["predictions"][0]
        other = b.json()["predictions"][0]
        if mine["label"] != other["label"] or abs(mine["probability"] - other["probability"]) > 1e-6:
            raise BenchError(f"the servers disagree on a review: ours {mine}, mlflow {other}")


def check_batch(our: Supervised, batch: list[str]) -> None:
    r = requests.post(our.url + "/v1/predict", json={"texts": batch}, timeout=30)
    if r.status_code != 200 or len(r.json()["predictions"]) != len(batch):
        raise BenchError(f"batch prediction failed: {r.status_code} {r.text[:200]}")


def shadow_model(paths: Paths, workdir: Path) -> Path:
    """A copy of the exported model in its own folder, for the shadow: the same scoring work as the
    champion's, loaded and scored as a second model (the worst case for a model of its size)."""
    target = workdir / "shadow-model"
    shutil.copytree(paths.export_dir, target)
    return target
