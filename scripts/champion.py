"""Record the registered model's ``champion`` version before CD promotes a new model.

If the deployment then fails, CD points the alias back with ``sentiment restore-champion
<recorded version>``, the command the runbook gives an operator; .ci/run runs both against its
local MLflow store after the pipeline, so the code CD depends on runs on every change. The
tracking server comes from ``MLFLOW_TRACKING_URI`` (and ``MLFLOW_TRACKING_TOKEN``), else the
project's local store, as for the ``sentiment`` commands.

    python scripts/champion.py record     # prints the version; adds version=... to $GITHUB_OUTPUT
    python scripts/champion.py latest     # the newest registered version; adds latest=... too

``latest`` is how .ci/run checks that a release after a shadow stage registered nothing new.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ALIAS = "champion"
# What MLflow answers when the model or its alias does not exist yet (the first promotion).
ABSENT = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


def model_name() -> str:
    """The registered model's name, with MLflow pointed where the CLI points it."""
    from sentiment_mlops.config import Paths, load_params
    from sentiment_mlops.registry.tracking import connect

    connect(Paths())  # $MLFLOW_TRACKING_URI, else the project's local store
    return str(load_params().registry.model_name)


def record() -> str:
    """The champion's version, or "" when there is none yet."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name = model_name()
    try:
        version = str(MlflowClient().get_model_version_by_alias(name, ALIAS).version)
    except MlflowException as exc:
        if exc.error_code not in ABSENT:
            raise
        version = ""
    print(f"current {ALIAS} of {name!r}: {version or 'none'}")
    _output("version", version)
    return version


def latest() -> str:
    """The newest registered version's number, or "" when the model has none."""
    from mlflow import MlflowClient

    name = model_name()
    numbers = [int(v.version) for v in MlflowClient().search_model_versions(f"name = '{name}'")]
    version = str(max(numbers)) if numbers else ""
    print(f"newest version of {name!r}: {version or 'none'}")
    _output("latest", version)
    return version


def _output(key: str, value: str) -> None:
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with Path(output).open("a", encoding="utf-8") as out:
            out.write(f"{key}={value}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("record", help="print (and output) the current champion version")
    sub.add_parser("latest", help="print (and output) the newest registered version")
    args = parser.parse_args(argv)
    if args.command == "record":
        record()
    else:
        latest()
    return 0


if __name__ == "__main__":
    sys.exit(main())
