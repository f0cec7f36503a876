"""The statistics behind ``min_df`` and the NB log-count ratio, which every training engine computes.

Kept apart from :mod:`~sentiment_mlops.training.train` so that an engine (the Spark one in
:mod:`~sentiment_mlops.training.spark_stats`) can return them without importing the trainer that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csc_matrix


@dataclass(frozen=True)
class NBStatistics:
    """Per bucket seen in training (sorted): its document frequency and its per-class sums, the
    statistics behind ``min_df`` and the NB log-count ratio. Sums of counts, so any engine may
    compute them in parts (the Spark engine does, on a cluster)."""

    seen: np.ndarray  # bucket ids, ascending
    df: np.ndarray  # reviews holding the bucket
    positive: np.ndarray  # float32: sum of the feature over positive reviews
    negative: np.ndarray  # float32: the same over negative reviews

    @classmethod
    def of(cls, seen: np.ndarray, compact: csc_matrix, y: np.ndarray) -> NBStatistics:
        """From the training matrix compacted to its ``seen`` columns."""
        df = np.diff(compact.indptr)  # binary or not, a column's stored entries = its document count
        rows = compact.tocsr()
        positive = np.asarray(rows[y == 1].sum(axis=0), dtype=np.float32).ravel()
        negative = np.asarray(rows[y == 0].sum(axis=0), dtype=np.float32).ravel()
        return cls(seen, df, positive, negative)
