"""Where the prediction log's segments go: a local folder or an object store, through Arrow's own
filesystems (:mod:`pyarrow.fs`), so the API image needs nothing beyond pyarrow for S3. How a URL
opens (credentials included) is part of the log's format: :func:`sentiment_mlops.data.log_format.filesystem`.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

from sentiment_mlops.data.log_format import filesystem, is_local


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
