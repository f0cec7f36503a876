"""What the spark-operator and Spark do with the nightly job's manifest, checked against their sources.

The CRD schema knows that ``pythonVersion`` is "2" or "3"; it does not know that the operator
turns it into ``spark.kubernetes.pyspark.pythonVersion`` only (the interpreter comes from
``spark.pyspark.python`` or the image's ``PYSPARK_PYTHON``), that it prefixes every ``hadoopConf``
key with ``spark.hadoop.`` (submission.go, hadoopConfOption), that a ``local://`` file must exist in
the image, that ``fs.s3a.committer.name`` is inert for Parquet unless Spark's cloud commit protocol
binds it (Spark's "Integration with Cloud Infrastructures"), or that ``deps.packages`` needs a
writable Ivy folder (kubeflow/spark-operator issues 352 and 1132). Each check also runs on the
defect it was written for, and must reject it. Hermetic: the YAML, the Dockerfile and the lock.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

SPARK = REPO_ROOT / "deploy" / "spark"
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile.spark"
REPORT = REPO_ROOT / "reports" / "bench" / "spark.json"
CLOUD_PROTOCOL = "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol"
CLOUD_PARQUET = "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter"
WEB_IDENTITY = "software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider"


def _objects() -> dict[str, dict[str, Any]]:
    docs = [d for f in sorted(SPARK.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    return {d["kind"]: d for d in docs if d and d.get("kind") != "Kustomization"}


def _image_env() -> dict[str, str]:
    """The ENV the Spark image sets (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def _locked(name: str) -> str:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == name)


def problems(objects: dict[str, dict[str, Any]]) -> list[str]:
    """What the operator, Spark or the image would do differently from what the manifest intends."""
    found: list[str] = []
    spec = objects["ScheduledSparkApplication"]["spec"]["template"]
    conf, hadoop = spec.get("sparkConf", {}), spec.get("hadoopConf", {})
    env = _image_env()
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    repository, _, tag = spec["image"].rpartition(":")
    if not repository.endswith("/sentiment-spark") or tag != version:
        found.append(f"image {spec['image']} is not sentiment-spark:{version} (make image-spark)")
    if spec.get("sparkVersion") != _locked("pyspark"):
        found.append(
            f"sparkVersion {spec.get('sparkVersion')} is not the locked pyspark {_locked('pyspark')}"
        )
    main = spec["mainApplicationFile"]
    site = f"{env['SPARK_HOME'].rsplit('/pyspark', 1)[0]}/"
    if not main.startswith(f"local://{site}"):
        found.append(f"mainApplicationFile {main} is not a local:// file of the image's {site}")
    elif not (REPO_ROOT / "src" / main.removeprefix(f"local://{site}")).is_file():
        found.append(f"mainApplicationFile {main} is not a file of the package")
    if spec.get("type") != "Python" or spec.get("pythonVersion", "3") != "3":
        found.append("a Python 3 application needs type: Python and pythonVersion 3 (the CRD's default is 2)")
    python = env["PYSPARK_PYTHON"]
    if not site.startswith(python.removesuffix("bin/python")):
        found.append(f"the image's PYSPARK_PYTHON {python} does not hold {site}")
    for key in ("spark.pyspark.python", "spark.pyspark.driver.python"):
        if conf.get(key, python) != python:
            found.append(f"{key} {conf[key]} is not the image's interpreter {python}")
    found += [
        f"hadoopConf {k}: the operator adds spark.hadoop. itself" for k in hadoop if k.startswith("spark.")
    ]
    found += [f"sparkConf {k}: not a Spark key, Spark ignores it" for k in conf if not k.startswith("spark.")]
    if hadoop.get("fs.s3a.aws.credentials.provider") != WEB_IDENTITY:
        found.append("S3A does not read the IRSA web-identity token")
    if re.search(r"(?i)secret|access\.key|session\.token", json.dumps(spec)):
        found.append("credentials in the manifest")
    account = objects["ServiceAccount"]["metadata"]
    if "eks.amazonaws.com/role-arn" not in account.get("annotations", {}):
        found.append("the service account has no IRSA role")
    for role in ("driver", "executor"):
        if spec[role].get("serviceAccount") != account["name"]:
            found.append(f"the {role} does not run as the IRSA service account {account['name']}")
        if str(spec[role].get("securityContext", {}).get("runAsUser")) not in _image_user():
            found.append(f"the {role} runs as another user than the image's")
    if objects["RoleBinding"]["subjects"][0]["name"] != spec["driver"].get("serviceAccount"):
        found.append("the driver's account may not create its executors")
    packages = spec.get("deps", {}).get("packages", [])
    if packages and not conf.get("spark.jars.ivy", "").startswith("/tmp/"):
        found.append("deps.packages without a writable spark.jars.ivy")
    if "fs.s3a.committer.name" in hadoop:
        cloud = f"org.apache.spark:spark-hadoop-cloud_2.13:{spec.get('sparkVersion')}"
        if conf.get("spark.sql.sources.commitProtocolClass") != CLOUD_PROTOCOL:
            found.append("fs.s3a.committer.name is inert without the cloud commit protocol")
        if conf.get("spark.sql.parquet.output.committer.class") != CLOUD_PARQUET:
            found.append("Parquet does not bind the S3A committer")
        if cloud not in packages:
            found.append(f"the cloud committers need {cloud}")
    if int(conf.get("spark.task.maxFailures", "1")) < 2:
        found.append("a lost executor's tasks are not retried")
    executor = spec["executor"]
    if str(executor.get("coreLimit")) != str(executor.get("cores")):
        found.append("executor coreLimit differs from cores: Spark runs cores tasks at once")
    projected = json.loads(REPORT.read_text())["scoring"]["projection"]["executor_cores"]
    if executor["instances"] * executor["cores"] < projected:
        found.append(f"{executor['instances']} x {executor['cores']} cores < the {projected} projected")
    return found


def _image_user() -> set[str]:
    user = re.findall(r"^USER (\d+)", DOCKERFILE.read_text(), re.M)
    return {user[-1].split(":")[0]} if user else set()


def test_the_nightly_job_runs_as_intended() -> None:
    assert problems(_objects()) == []


def _set(*path: str, value: Any = None) -> Callable[[dict[str, Any]], None]:
    """Set (or, with no value, remove) one field of the application; a key may hold dots."""

    def apply(objects: dict[str, Any]) -> None:
        node = objects["ScheduledSparkApplication"]["spec"]["template"]
        for key in path[:-1]:
            node = node[key]
        if value is None:
            node.pop(path[-1])
        else:
            node[path[-1]] = value

    return apply


def _prefix_hadoop_keys(objects: dict[str, Any]) -> None:
    spec = objects["ScheduledSparkApplication"]["spec"]["template"]
    spec["hadoopConf"] = {f"spark.hadoop.{k}": v for k, v in spec["hadoopConf"].items()}


DEFECTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "another image": _set("image", value="apache/spark:4.0.0-python3"),
    "other spark": _set("sparkVersion", value="3.5.1"),
    "uploaded main file": _set("mainApplicationFile", value="s3a://bucket/job.py"),
    "main file outside the venv": _set(
        "mainApplicationFile", value="local:///opt/spark/sentiment_mlops/spark/job.py"
    ),
    "python 2": _set("pythonVersion", value="2"),
    "system python": _set("sparkConf", "spark.pyspark.python", value="/usr/bin/python3"),
    "hadoop key in sparkConf": _set("sparkConf", "fs.s3a.endpoint", value="s3.eu-west-1.amazonaws.com"),
    "prefixed hadoop keys": _prefix_hadoop_keys,
    "static keys": _set("hadoopConf", "fs.s3a.access.key", value="AKIAEXAMPLE"),
    "default credentials chain": _set("hadoopConf", "fs.s3a.aws.credentials.provider"),
    "default ivy": _set("sparkConf", "spark.jars.ivy"),
    "committer without protocol": _set("sparkConf", "spark.sql.sources.commitProtocolClass"),
    "no cloud committer package": _set("deps", "packages", value=["org.apache.hadoop:hadoop-aws:3.5.0"]),
    "no task retries": _set("sparkConf", "spark.task.maxFailures", value="1"),
    "driver without irsa": _set("driver", "serviceAccount", value="default"),
    "root executor": _set("executor", "securityContext", "runAsUser", value=0),
    "throttled executor": _set("executor", "coreLimit", value="2"),
    "too few cores": _set("executor", "instances", value=0),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_is_rejected(defect: str) -> None:
    objects = copy.deepcopy(_objects())
    DEFECTS[defect](objects)
    assert problems(objects), defect
