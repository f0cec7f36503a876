"""Where the prediction log's segments go: a local folder or an object store, through Arrow's own
filesystems (:mod:`pyarrow.fs`), so the API image needs nothing beyond pyarrow for S3.

``s3://bucket/prefix`` opens :class:`pyarrow.fs.S3FileSystem` with no explicit keys: the AWS SDK's
default credential chain then finds them, including the web-identity token that IRSA mounts in a
pod (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``). A plain path (relative or absolute) is a
local folder.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any


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


def write_segment(root_url: str, relative: str, table: Any) -> str:
    """Write ``table`` as one Parquet file at ``root_url/relative``, atomically; return its path."""
    import pyarrow.parquet as pq

    fs_, root = filesystem(root_url)
    path = f"{root}/{relative}"
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue()
    if is_local(fs_):
        folder, name = path.rsplit("/", 1)
        fs_.create_dir(folder, recursive=True)
        tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"  # hidden: readers skip it
        with fs_.open_output_stream(tmp) as handle:
            handle.write(data)
        fs_.move(tmp, path)  # a rename in one folder: the segment appears whole
    else:
        # an object store shows an object only once its upload completes: whole or not at all
        with fs_.open_output_stream(path) as handle:
            handle.write(data)
    return path
