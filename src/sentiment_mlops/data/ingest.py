"""The ``ingest`` stage: fetch and verify the archive, read and validate it, write ``interim/*.parquet``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sentiment_mlops.config import Params, Paths
from sentiment_mlops.data.archive import read_archive
from sentiment_mlops.data.errors import DataError
from sentiment_mlops.data.fetch import resolve_archive
from sentiment_mlops.data.schema import EXPECTED_LABEL_COUNTS, label_counts, validate, write_parquet
from sentiment_mlops.files import atomic_write_text

log = logging.getLogger(__name__)


def _allocate(counts: dict[int, int], n: int) -> dict[int, int]:
    """Split ``n`` across labels in proportion to ``counts`` (largest remainder, ties by label)."""
    total = sum(counts.values())
    exact = {label: n * c / total for label, c in counts.items()}
    alloc = {label: int(v) for label, v in exact.items()}
    order = sorted(counts, key=lambda lab: (-(exact[lab] - alloc[lab]), lab))
    for label in order[: n - sum(alloc.values())]:
        alloc[label] += 1
    return alloc


def _sample(df: pd.DataFrame, n: int, seed: int, split: str) -> pd.DataFrame:
    """A seeded sample of ``n`` reviews, stratified by label, in the frame's original order."""
    if n > len(df):
        raise DataError(f"cannot sample {n:,} reviews from the {split} split: it has only {len(df):,}")
    rng = np.random.default_rng(seed)
    counts = label_counts(df)
    keep: list[np.ndarray] = []
    for label, k in _allocate(counts, n).items():
        positions = np.flatnonzero(df["label"].to_numpy() == label)
        keep.append(rng.choice(positions, size=k, replace=False))
    return df.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)


def ingest(
    paths: Paths,
    params: Params,
    source: str | None = None,
    sha256: str | None = None,
    sample: int | None = None,
) -> dict[str, Path]:
    """Fetch and verify the archive, extract and validate the reviews, write ``interim/*.parquet``.

    ``sample=N`` keeps a seeded sample of N reviews per split, stratified by label, for fast runs.
    Nothing is written unless every split passes validation.
    """
    if sample is not None and sample < 1:
        raise DataError(f"sample must be a positive number of reviews, got {sample}")
    archive, digest = resolve_archive(paths, params, source, sha256)
    log.info("reading %s (sha256 %s)", archive, digest)
    frames = read_archive(archive)

    for split, df in frames.items():
        if sample is None:
            validate(df, split, EXPECTED_LABEL_COUNTS[split])
        else:
            # The whole split must be sound before a sample of it is; then the sample has exactly N rows.
            validate(df, split)
            sampled = _sample(df, sample, params.split.seed, split)
            validate(sampled, split, _allocate(label_counts(df), sample))
            frames[split] = sampled

    outputs = {split: write_parquet(df, paths.interim / f"{split}.parquet") for split, df in frames.items()}
    manifest: dict[str, Any] = {
        "archive": archive.name,
        "archive_sha256": digest,
        "counts": {split: len(df) for split, df in frames.items()},
        "label_counts": {
            split: {str(k): v for k, v in label_counts(df).items()} for split, df in frames.items()
        },
        "sample": sample,
        "seed": params.split.seed if sample is not None else None,
    }
    manifest_text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write_text(paths.interim / "manifest.json", manifest_text)
    log.info("wrote %s", ", ".join(f"{s}: {n:,}" for s, n in manifest["counts"].items()))
    return outputs
