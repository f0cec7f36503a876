"""The prediction log's format: its two tables, their columns and Arrow schemas, the roles, and how
a log URL opens.

The service writes the log (:mod:`sentiment_mlops.serving.prediction_log`); ``sentiment feedback
export`` and ``sentiment shadow report`` read it. Both sides take the format from here, so a reader
never depends on the service's code.

``s3://bucket/prefix`` opens :class:`pyarrow.fs.S3FileSystem` with no explicit keys: the AWS SDK's
default credential chain then finds them, including the web-identity token that IRSA mounts in a
pod (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``). A plain path (relative or absolute) is a
local folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

TextMode = Literal["full", "hash", "none"]
TEXT_MODES: tuple[str, ...] = ("full", "hash", "none")
PREDICTIONS = "predictions"
FEEDBACK = "feedback"
# The ``role`` column: which model gave the row's answer.
CHAMPION = "champion"
SHADOW = "shadow"

PREDICTION_COLUMNS = (
    "id",
    "ts",
    "role",
    "model_name",
    "model_version",
    "route",
    "text",
    "text_sha256",
    "probability",
    "label",
    "n_tokens",
    "unseen_share",
)
FEEDBACK_COLUMNS = ("id", "ts", "label")


def text_hash(text: str) -> str:
    """The sha256 of a review's UTF-8 bytes: joins without keeping the text itself."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def arrow_schema(table: str) -> Any:
    """The Arrow schema of one table's segments."""
    import pyarrow as pa

    ts = pa.timestamp("ms", tz="UTC")
    if table == FEEDBACK:
        return pa.schema([("id", pa.string()), ("ts", ts), ("label", pa.string())])
    return pa.schema(
        [
            ("id", pa.string()),
            ("ts", ts),
            ("role", pa.string()),
            ("model_name", pa.string()),
            ("model_version", pa.string()),
            ("route", pa.string()),
            ("text", pa.large_string()),
            ("text_sha256", pa.string()),
            ("probability", pa.float64()),
            ("label", pa.string()),
            ("n_tokens", pa.int32()),
            ("unseen_share", pa.float32()),
        ]
    )


def filesystem(url: str) -> tuple[Any, str]:
    """The Arrow filesystem and the root path inside it that ``url`` names."""
    from pyarrow import fs

    if "://" not in url:  # from_uri wants absolute URIs; a folder may be relative to the cwd
        return fs.LocalFileSystem(), str(Path(url).resolve())
    filesystem_, root = fs.FileSystem.from_uri(url)
    return filesystem_, root.rstrip("/")


def is_local(filesystem_: Any) -> bool:
    from pyarrow import fs

    return isinstance(filesystem_, fs.LocalFileSystem)
