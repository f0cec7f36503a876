"""Fixtures of the monitoring tests: the repository's monitoring sources, promtool, rules, dashboards."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops.workspace import monitoring as mon
from sentiment_mlops.workspace import promql
from sentiment_mlops.workspace.repository import MonitoringPaths, monitoring_paths


@pytest.fixture(scope="module")
def paths(repo_root: Path) -> MonitoringPaths:
    return monitoring_paths(repo_root)


@pytest.fixture(scope="module")
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not found: apt-get install -y prometheus")
    return binary


@pytest.fixture(scope="module")
def groups(paths: MonitoringPaths) -> list[dict[str, Any]]:
    return mon.load_rule_groups(paths.rules)


@pytest.fixture(scope="module")
def dashboards(paths: MonitoringPaths) -> dict[str, dict[str, Any]]:
    return promql.load_dashboards(paths.dashboards)
