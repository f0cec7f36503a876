"""One local Spark session for every Spark test (two cores, task retries on, loopback only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from sentiment_mlops.spark_session import get_session

    session = get_session("sentiment-tests", master="local[2,4]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
