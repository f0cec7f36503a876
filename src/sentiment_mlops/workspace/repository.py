"""The source repository that the workspace tools read: rules, dashboards and the metric contract.

``sentiment monitoring`` and ``sentiment stack`` read ``deploy/monitoring/`` and ``docs/metrics.md``,
which are files of the repository, not of the installed package. They find the clone explicitly
(``$SENTIMENT_HOME``, else the working directory or one of its parents) and say so when there is
none, rather than reading from a folder that happens to be the working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sentiment_mlops.config import ConfigError

#: What marks a clone of the repository (beside params.yaml).
MARKERS = ("params.yaml", "deploy/monitoring/prometheus/rules.yml", "docs/metrics.md")


class RepositoryError(ConfigError):
    """No clone of the repository where the workspace tools look for one."""


def is_repository(folder: Path) -> bool:
    return all((folder / marker).is_file() for marker in MARKERS)


def find_repository(start: Path | None = None) -> Path:
    """The clone: ``$SENTIMENT_HOME`` if set, else the nearest of ``start`` (the working directory)
    and its parents that holds :data:`MARKERS`. Raises :class:`RepositoryError` naming where it looked."""
    env = os.environ.get("SENTIMENT_HOME")
    candidates = [Path(env).resolve()] if env else [(here := (start or Path.cwd()).resolve()), *here.parents]
    for folder in candidates:
        if is_repository(folder):
            return folder
    where = f"$SENTIMENT_HOME ({candidates[0]})" if env else f"{candidates[0]} or its parents"
    raise RepositoryError(
        f"no clone of the sentiment-mlops repository in {where}: this command reads "
        f"{', '.join(MARKERS[1:])}; run it inside a clone or set SENTIMENT_HOME to one"
    )


@dataclass(frozen=True)
class MonitoringPaths:
    """Where the monitoring sources live, from one project root."""

    root: Path

    @property
    def monitoring(self) -> Path:
        return self.root / "deploy" / "monitoring"

    @property
    def rules(self) -> Path:
        return self.monitoring / "prometheus" / "rules.yml"

    @property
    def rule_tests(self) -> Path:
        return self.monitoring / "prometheus" / "tests"

    @property
    def prometheus_config(self) -> Path:
        return self.monitoring / "prometheus" / "prometheus.yml"

    @property
    def prometheus_rule(self) -> Path:
        return self.monitoring / "k8s" / "prometheusrule.yaml"

    @property
    def dashboards(self) -> Path:
        return self.monitoring / "dashboards"

    @property
    def metrics_doc(self) -> Path:
        return self.root / "docs" / "metrics.md"


def monitoring_paths(root: Path | None = None) -> MonitoringPaths:
    """The monitoring sources of ``root``, by default of :func:`find_repository`."""
    return MonitoringPaths((root or find_repository()).resolve())
