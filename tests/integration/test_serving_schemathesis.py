"""Property-based testing of the live API against its own OpenAPI document (schemathesis CLI):
generated valid and invalid requests for every operation; zero server errors, every response
conforms to the document (status, content type, headers, body schema)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.serving_server import ApiServer

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def server(small_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(small_model_dir, tmp_path_factory.mktemp("schemathesis")) as srv:
        yield srv


def test_no_server_errors_and_no_schema_violations(server: ApiServer, tmp_path: Path) -> None:
    # Every check runs (schemathesis' default; the config file turns one off for v2 inference, see
    # there); the stateful phase is off: the API has no links between operations to follow.
    # One worker: under parallel generation hypothesis occasionally trips over a CPython 3.11 AST
    # bug while describing its strategies, an error of the tool, not of the API.
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.url}/openapi.json",
        "--max-examples",
        "40",
        "--workers",
        "1",
        "--seed",
        "20261126",
        "--request-timeout",
        "30",
        "--phases",
        "examples,coverage,fuzzing",
        "--no-color",
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report[-6000:]
    assert "Server error" not in report
    assert "Tested: 17" in report, report[-3000:]
    assert re.search(r"(\d+) generated, \1 passed", report), report[-3000:]
