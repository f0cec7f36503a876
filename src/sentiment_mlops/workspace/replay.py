"""The pieces of ``sentiment loop``: a labelled production stream made from real IMDB reviews, a
client that replays it against the API (predictions, then feedback for part of them), and a
Prometheus on loopback that evaluates the project's rules.

The stream differs from training the way production often does: the champion learns from clear-cut
reviews (1-3 and 8-10 stars), production sends the nuanced ones (4 and 7 stars, still labelled
negative and positive by the dataset's own rule). The stream's movies appear neither in the
champion's training data nor in the IMDB test set, so nothing it teaches a challenger leaks into
the final evaluation.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import requests

BORDERLINE_STARS = (4, 7)


@dataclass(frozen=True)
class LoopData:
    train: pd.DataFrame  # the champion's reviews (clear-cut, other movies)
    test: pd.DataFrame  # a sample of the IMDB test set (all stars)
    unsup: pd.DataFrame
    stream: pd.DataFrame  # the production stream, in replay order


def _stratified(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    per_label = n // 2
    parts = [g.sample(min(per_label, len(g)), random_state=seed) for _, g in df.groupby("label")]
    return pd.concat(parts).sort_values("id").reset_index(drop=True)


def build_data(
    frames: dict[str, pd.DataFrame], n_train: int, n_test: int, n_stream: int, seed: int
) -> LoopData:
    """Split the archive's reviews into the champion's data, the test sample and the stream."""
    train = frames["train"]
    borderline = train[train["stars"].isin(BORDERLINE_STARS)]
    rng = random.Random(seed)
    movies = sorted(set(borderline["movie"]))
    rng.shuffle(movies)
    by_movie = borderline.groupby("movie").size()
    chosen: set[str] = set()
    total = 0
    for movie in movies:  # whole movies, until the stream is long enough
        if total >= n_stream:
            break
        chosen.add(movie)
        total += int(by_movie[movie])
    stream = borderline[borderline["movie"].isin(chosen)].sample(frac=1.0, random_state=seed)
    clear = train[~train["stars"].isin(BORDERLINE_STARS) & ~train["movie"].isin(chosen)]
    data = LoopData(
        train=_stratified(clear, n_train, seed),
        test=_stratified(frames["test"], n_test, seed),
        unsup=frames["unsup"].sample(min(2000, len(frames["unsup"])), random_state=seed).sort_values("id"),
        stream=stream.reset_index(drop=True),
    )
    if chosen & set(data.test["movie"]) or chosen & set(data.train["movie"]):
        raise AssertionError("the stream shares a movie with the evaluation or training data")
    return data


@dataclass
class Window:
    """One stretch of the replay: what the client saw and what the labels said."""

    phase: str
    reviews: int = 0
    expected_correct: float = 0.0  # sum of max(p, 1 - p)
    labelled: int = 0
    labelled_right: int = 0
    ended_at: float = 0.0
    prometheus_live: float | None = None
    prometheus_estimated: float | None = None

    @property
    def estimated(self) -> float:
        return self.expected_correct / self.reviews if self.reviews else float("nan")

    @property
    def live(self) -> float:
        return self.labelled_right / self.labelled if self.labelled else float("nan")


@dataclass
class Replay:
    """Sends the stream in batches from a few threads; labels ``label_share`` of the predictions."""

    url: str
    label_share: float
    rate: float = 90.0  # reviews per second, on an open-loop schedule: Prometheus (1 s scrapes) sees
    # the counters grow, so rates over any window are defined
    batch: int = 8
    threads: int = 3
    window_reviews: int = 200
    seed: int = 0
    windows: list[Window] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, stream: pd.DataFrame, phase: str, on_window: Callable[[Window], None]) -> None:
        rng = np.random.default_rng(self.seed + len(self.windows))
        texts, labels = stream["text"].tolist(), stream["label"].to_numpy()
        chunks = [
            (texts[i : i + self.batch], labels[i : i + self.batch]) for i in range(0, len(texts), self.batch)
        ]
        current = Window(phase)
        local = threading.local()  # one HTTP session per thread
        start = time.monotonic()

        def send(job: tuple[int, tuple[list[str], np.ndarray]]) -> None:
            nonlocal current
            k, (batch_texts, batch_labels) = job
            time.sleep(max(0.0, start + k * self.batch / self.rate - time.monotonic()))
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            answer = session.post(f"{self.url}/v1/predict", json={"texts": batch_texts}, timeout=30)
            self._count(answer.status_code)
            if answer.status_code != 200:
                return
            predictions = answer.json()["predictions"]
            truth = ["positive" if y == 1 else "negative" for y in batch_labels]
            with self._lock:
                chosen = [i for i in range(len(predictions)) if rng.random() < self.label_share]
            if chosen:
                feedback = [{"id": predictions[i]["id"], "label": truth[i]} for i in chosen]
                self._count(
                    session.post(
                        f"{self.url}/v1/feedback", json={"feedback": feedback}, timeout=30
                    ).status_code
                )
            with self._lock:
                for i, item in enumerate(predictions):
                    p = item["probability"]
                    current.reviews += 1
                    current.expected_correct += max(p, 1.0 - p)
                    if i in chosen:
                        current.labelled += 1
                        current.labelled_right += item["label"] == truth[i]
                if current.reviews >= self.window_reviews:
                    self._close(current, on_window)
                    current = Window(phase)

        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(send, enumerate(chunks)))
        if current.reviews:
            self._close(current, on_window)

    def _close(self, window: Window, on_window: Callable[[Window], None]) -> None:
        window.ended_at = time.time()
        self.windows.append(window)
        on_window(window)

    def _count(self, status: int) -> None:
        with self._lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true; return the seconds it took (TimeoutError after ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if condition():
                return time.monotonic() - start
        except (requests.ConnectionError, requests.Timeout):
            # Refused, or accepted by the master's socket before a worker answers
            # (a busy machine boots workers slowly): both mean "not yet".
            pass
        time.sleep(0.25)
    raise TimeoutError(f"not {what} after {timeout:.0f} s")
