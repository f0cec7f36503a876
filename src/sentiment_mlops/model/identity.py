"""A model's identity as the image labels state it, from the folder the image bakes in.

The same facts the service reports (``/version``, ``model_info``, the v2 metadata, every
prediction): the version in the team's registry and the sha256 of the weights.

    python -m sentiment_mlops.model.identity MODEL_DIR     # one ``label=value`` line each
"""

from __future__ import annotations

import sys
from pathlib import Path

from sentiment_mlops.model.artifact import ModelError, SentimentModel

LABEL_PREFIX = "io.sentiment-mlops.model."


def labels(model_dir: Path | str) -> dict[str, str]:
    """OCI labels naming the model in ``model_dir``: name, version, content hash."""
    model = SentimentModel.load(model_dir)
    return {
        f"{LABEL_PREFIX}name": model.name,
        f"{LABEL_PREFIX}version": model.version,
        f"{LABEL_PREFIX}content-hash": model.content_hash,
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m sentiment_mlops.model.identity MODEL_DIR")
    try:
        found = labels(sys.argv[1])
    except ModelError as exc:
        sys.exit(f"error: {exc}")
    print("\n".join(f"{k}={v}" for k, v in found.items()))
