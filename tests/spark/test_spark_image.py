"""The Spark image, built and run with podman: it holds what the SparkApplication names, and scores.

The manifest's ``sparkVersion``, ``mainApplicationFile`` and ``spark.pyspark.python`` are checked
against the built image itself (not only its Dockerfile), and the image scores a file with
``sentiment predict --engine spark`` in local mode, as the non-root user, through its entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.integration.containers import Podman

pytestmark = [pytest.mark.container, pytest.mark.integration, pytest.mark.shared]

MANIFEST = REPO_ROOT / "deploy" / "spark" / "scheduledsparkapplication.yaml"


@pytest.fixture(scope="module")
def podman(shared: Path) -> Podman:
    return Podman.prepared(shared)


@pytest.fixture(scope="module")
def image(podman: Podman) -> Iterator[str]:
    tag = f"localhost/sentiment-spark:test-{os.getpid()}"
    yield podman.build("spark", tag, {}, timeout=1800)
    podman("rmi", "--force", tag, check=False)


def test_the_image_holds_what_the_application_names(podman: Podman, image: str) -> None:
    spec = yaml.safe_load(MANIFEST.read_text())["spec"]["template"]
    main = spec["mainApplicationFile"].removeprefix("local://")
    python = spec["sparkConf"]["spark.pyspark.python"]
    probe = (
        "import json, os, sys, pyspark; "
        f"print(json.dumps({{'python': sys.executable, 'version': sys.version_info[:2], "
        f"'spark': pyspark.__version__, 'main': os.path.isfile({main!r}), "
        "'home': os.environ['SPARK_HOME'], 'user': os.getuid()}))"
    )
    out = podman("run", "--rm", image, "python", "-c", probe, timeout=120)
    facts = json.loads(out.stdout)
    assert facts["main"], f"{main} is not in the image"
    assert facts["python"] == python and facts["version"] == [3, 11]
    assert facts["spark"] == spec["sparkVersion"]
    assert Path(facts["home"]).is_absolute() and main.startswith(facts["home"].rsplit("/pyspark", 1)[0])
    assert str(facts["user"]) == str(spec["executor"]["securityContext"]["runAsUser"])
    java = podman("run", "--rm", image, "java", "-version", timeout=120)
    assert 'version "17.' in java.stderr


def test_the_image_scores_in_local_mode(
    podman: Podman, image: str, small_model_dir: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    reviews = ["A wonderful, moving film.", "Dull and far too long.", "I loved every minute."]
    pd.DataFrame({"id": [1, 2, 3], "text": reviews}).to_parquet(work / "in.parquet")
    subprocess.run(["cp", "-r", str(small_model_dir), str(work / "model")], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(work / "model")], check=True)  # the image reads as 10001
    work.chmod(0o777)  # the image's user (10001) writes the output here
    out = podman(
        "run", "--rm", "--network=none", "-v", f"{work}:/work", "-e", "SENTIMENT_SPARK_MASTER=local[1]",
        image, "sentiment", "predict", "--engine", "spark", "--model-uri", "/work/model",
        "-i", "/work/in.parquet", "-o", "/work/out", check=False, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-4000:]
    scored = pd.read_parquet(work / "out").sort_values("id")
    assert scored["text"].tolist() == reviews
    assert set(scored["label"]) <= {"positive", "negative"} and scored["probability"].between(0, 1).all()
