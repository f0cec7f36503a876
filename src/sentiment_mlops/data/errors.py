"""The one error the data stages raise, so the CLI can turn it into a message and exit code 2."""

from __future__ import annotations


class DataError(ValueError):
    """The archive or a dataset is missing, corrupt, fails its checksum or its validation."""
