"""The nightly Spark job's manifests: rendered by kustomize, validated strictly, and consistent with the
code and the lock they run (entry file, CLI arguments, Spark and Hadoop versions, identity)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest
import typer

from sentiment_mlops.cli import app
from tests.conftest import REPO_ROOT
from tests.unit.manifest_checks import (
    _crd_validator,
    _object_meta_validator,
    cluster_version,
    schema_problems,
)
from tests.unit.manifest_render import render

# They run kubectl and read the CRD schemas in ../shared: the integration tier.
pytestmark = [pytest.mark.integration, pytest.mark.shared]

SPARK = REPO_ROOT / "deploy" / "spark"
GROUP, VERSION = "sparkoperator.k8s.io", "v1beta2"


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    return {obj["kind"]: obj for obj in render(SPARK)}


def _crd_problems(obj: dict[str, Any], kind: str) -> list[str]:
    validator = _crd_validator(GROUP, kind, VERSION)
    assert validator is not None, f"no schema for {kind}"
    meta = _object_meta_validator(cluster_version())
    return [e.message for e in validator.iter_errors(obj)] + [
        e.message for e in meta.iter_errors(obj["metadata"])
    ]


def _application(scheduled: dict[str, Any]) -> dict[str, Any]:
    """The SparkApplication each scheduled run creates."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SparkApplication",
        "metadata": {"name": scheduled["metadata"]["name"], "namespace": "sentiment"},
        "spec": scheduled["spec"]["template"],
    }


def test_manifests_validate_strictly(objects: dict[str, dict[str, Any]]) -> None:
    assert set(objects) == {"ServiceAccount", "Role", "RoleBinding", "ScheduledSparkApplication"}
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        assert schema_problems(objects[kind], cluster_version()) == []
    scheduled = objects["ScheduledSparkApplication"]
    assert _crd_problems(scheduled, "ScheduledSparkApplication") == []
    assert _crd_problems(_application(scheduled), "SparkApplication") == []


def test_a_typo_in_the_application_fails_validation(objects: dict[str, dict[str, Any]]) -> None:
    app_obj = _application(objects["ScheduledSparkApplication"])
    app_obj["spec"]["executor"]["instance"] = app_obj["spec"]["executor"].pop("instances")
    assert _crd_problems(app_obj, "SparkApplication")


def test_the_job_runs_the_cli_as_installed(objects: dict[str, dict[str, Any]]) -> None:
    spec = objects["ScheduledSparkApplication"]["spec"]["template"]
    entry = spec["mainApplicationFile"].split("/site-packages/", 1)[1]
    assert (REPO_ROOT / "src" / entry).is_file()
    command = typer.main.get_command(app)
    name, *args = spec["arguments"]
    ctx = command.commands[name].make_context(name, list(args))  # type: ignore[attr-defined]  # raises on an unknown option
    assert ctx.params["engine"] == "spark" and ctx.params["input_file"].startswith("s3a://")
    assert ctx.params["output_file"].startswith("s3a://")


def test_spark_and_hadoop_versions_match_the_lock(objects: dict[str, dict[str, Any]]) -> None:
    spec = objects["ScheduledSparkApplication"]["spec"]["template"]
    assert spec["sparkVersion"] == importlib.metadata.version("pyspark")
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    hadoop = (
        next(jars.glob("hadoop-client-api-*.jar"))
        .name.removeprefix("hadoop-client-api-")
        .removesuffix(".jar")
    )
    assert spec["deps"]["packages"] == [
        f"org.apache.hadoop:hadoop-aws:{hadoop}",
        f"org.apache.spark:spark-hadoop-cloud_2.13:{spec['sparkVersion']}",
    ]
    scala = next(jars.glob("spark-core_*.jar")).name.split("_")[1].split("-")[0]
    assert scala == "2.13"


def test_driver_and_executors_use_the_irsa_account(objects: dict[str, dict[str, Any]]) -> None:
    spec = objects["ScheduledSparkApplication"]["spec"]["template"]
    account = objects["ServiceAccount"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert (
        spec["driver"]["serviceAccount"] == spec["executor"]["serviceAccount"] == account["metadata"]["name"]
    )
    assert objects["RoleBinding"]["subjects"][0]["name"] == account["metadata"]["name"]
    assert "WebIdentityTokenFileCredentialsProvider" in spec["hadoopConf"]["fs.s3a.aws.credentials.provider"]
    assert "secretKey" not in str(spec) and "access.key" not in str(spec)
