"""The shadow stage's pod, run with podman as the rendered release describes it.

The pod comes from ``deploy/render-overlay.sh`` with ``SHADOW_IMAGE`` set (tests/integration/
shadow_pod.py). Two images of the same family: the champion's (the tests' small model) and the
challenger's (the same image with another model, trained on 60 reviews, in /app/model). Then:

1. the init container's command, in the challenger's image, read-only root, uid 10001, no
   capabilities, into a chmod-777 host folder mounted where the manifest mounts the emptyDir;
2. the champion's image with that folder mounted read-only where the API container mounts it and
   the manifest's SENTIMENT_SHADOW_MODEL_URI; beside it the same image without a shadow;
3. the same reviews (same X-Request-ID) to both: byte-identical answers; the shadow run reports
   model_shadow_ready 1, the challenger's identity, one agreement count per review with the
   disagreements a direct offline computation finds, and no shadow error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sentiment_mlops.model.artifact import SentimentModel
from tests.conftest import REPO_ROOT, free_port
from tests.integration.containers import Podman
from tests.integration.shadow_pod import (
    INIT_NAME,
    container,
    env_of,
    mount_of,
    pod_spec,
    rendered_objects,
)
from tests.integration.test_container import (  # noqa: F401  (module-scoped fixtures)
    PREDICTION_LOG,
    Running,
    http,
    image,
    podman,
    wait_ready,
)
from tests.integration.weak_model import train_weak_project

pytestmark = [pytest.mark.container, pytest.mark.integration]

VOLUME = "shadow-model"
N_REVIEWS = 60
COUNT_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def pod() -> dict:
    return pod_spec(rendered_objects())


@pytest.fixture(scope="module")
def weak_model(small_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return (
        train_weak_project(small_project, tmp_path_factory.mktemp("weak-shadow-image")) / "models" / "model"
    )


@pytest.fixture(scope="module")
def challenger(
    podman: Podman,  # noqa: F811
    image: str,  # noqa: F811
    weak_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The champion's image with the weak model in /app/model (owned by root, as the Dockerfile's)."""
    context = tmp_path_factory.mktemp("challenger-context")
    shutil.copytree(weak_model, context / "model")
    (context / "Containerfile").write_text(f"FROM {image}\nCOPY model /app/model\n")
    tag = f"localhost/sentiment-api:test-challenger-{os.getpid()}"
    podman(
        "build",
        "--pull=never",
        "--format",
        "docker",
        "-t",
        tag,
        "-f",
        str(context / "Containerfile"),
        str(context),
    )
    yield tag
    podman("rmi", "--force", tag, check=False)


@pytest.fixture(scope="module")
def shadow_dir(podman: Podman, challenger: str, pod: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """What the init container leaves in the emptyDir: run exactly as the manifest says."""
    init = container(pod, INIT_NAME, "initContainers")
    security = init["securityContext"]
    host = tmp_path_factory.mktemp("shadow-emptydir")
    host.chmod(0o777)  # an emptyDir is world-writable; the mount point belongs to root
    out = podman(
        "run", "--rm", "--network=none", "--read-only", "--read-only-tmpfs=false",
        "--user", f"{security['runAsUser']}:{security['runAsGroup']}",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--volume", f"{host}:{mount_of(init, VOLUME)['mountPath']}",
        "--entrypoint", json.dumps(init["command"]),
        challenger,
        check=False,
    )  # fmt: skip
    assert out.returncode == 0, f"init container failed:\n{out.stdout}\n{out.stderr}"
    (host / "init.log").write_text(out.stdout)
    return host


def _run(podman: Podman, image: str, name: str, extra: list[str]) -> Running:  # noqa: F811
    port = free_port()
    podman("rm", "--force", name, check=False)
    podman(
        "run", "--detach", "--name", name, "--network=host",
        "--read-only", "--read-only-tmpfs=false",
        "--tmpfs", "/tmp", "--tmpfs", "/var/run/prometheus", "--tmpfs", PREDICTION_LOG,
        "--env", f"GUNICORN_BIND=127.0.0.1:{port}", "--env", "GUNICORN_WORKERS=2",
        *extra, image,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    wait_ready(podman, name, base_url)
    return Running(name, base_url)


@pytest.fixture(scope="module")
def pair(podman: Podman, image: str, pod: dict, shadow_dir: Path) -> Iterator[tuple[Running, Running]]:  # noqa: F811
    """(plain, shadowed): the champion's image without and with the copied challenger."""
    api = container(pod, "api")
    mount = mount_of(api, VOLUME)
    assert mount.get("readOnly") is True
    shadow_flags = [
        "--volume", f"{shadow_dir}:{mount['mountPath']}:ro",
        "--env", f"SENTIMENT_SHADOW_MODEL_URI={env_of(api)['SENTIMENT_SHADOW_MODEL_URI']}",
    ]  # fmt: skip
    names = [f"sentiment-api-plain-{os.getpid()}", f"sentiment-api-shadowed-{os.getpid()}"]
    try:
        plain = _run(podman, image, names[0], [])
        shadowed = _run(podman, image, names[1], shadow_flags)
        yield plain, shadowed
    finally:
        for name in names:
            podman("stop", "--time", "10", name, check=False)
            podman("rm", "--force", name, check=False)


@pytest.fixture(scope="module")
def reviews(small_project: Path) -> list[str]:
    test = pd.read_parquet(small_project / "data" / "processed" / "test.parquet")
    return list(test.text.head(N_REVIEWS))


def _post_all(base_url: str, texts: list[str]) -> list[bytes]:
    import urllib.request

    bodies = []
    for i, text in enumerate(texts):
        request = urllib.request.Request(
            f"{base_url}/v1/predict",
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json", "X-Request-ID": f"shadow-pod-{i}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            bodies.append(response.read())
    return bodies


def _samples(base_url: str) -> list[tuple[str, dict[str, str], float]]:
    status, body = http(f"{base_url}/metrics")
    assert status == 200
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    ]


def _sum(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == w for k, w in labels.items()))


def test_the_init_container_copies_the_challengers_model_into_a_subfolder(
    shadow_dir: Path, pod: dict, weak_model: Path
) -> None:
    api = container(pod, "api")
    uri = Path(env_of(api)["SENTIMENT_SHADOW_MODEL_URI"])
    copied = shadow_dir / uri.relative_to(mount_of(api, VOLUME)["mountPath"])
    assert sorted(p.name for p in shadow_dir.iterdir()) == sorted([copied.name, "init.log"])  # no .part left
    assert SentimentModel.load(copied).content_hash == SentimentModel.load(weak_model).content_hash
    assert copied.stat().st_uid == 10001  # written by the init container's user
    log = (shadow_dir / "init.log").read_text()
    assert f"io.sentiment-mlops.model.content-hash={SentimentModel.load(weak_model).content_hash}" in log


def test_the_shadowed_pod_answers_byte_for_byte_as_without_and_counts_every_review(
    pair: tuple[Running, Running], reviews: list[str], weak_model: Path, small_model_dir: Path
) -> None:
    plain, shadowed = pair
    assert _post_all(shadowed.base_url, reviews) == _post_all(plain.base_url, reviews)

    champion, shadow = SentimentModel.load(small_model_dir), SentimentModel.load(weak_model)
    disagree = int(((champion.predict_proba(reviews) >= 0.5) != (shadow.predict_proba(reviews) >= 0.5)).sum())
    assert 0 < disagree < len(reviews), "the two models should differ on some reviews, not all"
    deadline = time.monotonic() + COUNT_TIMEOUT_S
    while True:
        samples = _samples(shadowed.base_url)
        total = _sum(samples, "model_shadow_agreement_total")
        if total >= len(reviews) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert total == len(reviews)
    assert _sum(samples, "model_shadow_agreement_total", agree="false") == disagree
    assert _sum(samples, "model_shadow_ready") == 1
    assert _sum(samples, "model_shadow_errors_total") == 0
    assert _sum(samples, "model_shadow_info", version=shadow.version, content_hash=shadow.content_hash) == 1
    # the plain pod has no shadow at all
    plain_samples = _samples(plain.base_url)
    assert _sum(plain_samples, "model_shadow_agreement_total") == 0
    assert _sum(plain_samples, "model_shadow_ready") == 0


def test_cds_smoke_test_finds_the_champion_serving_and_the_challenger_shadowing(
    pair: tuple[Running, Running], weak_model: Path, small_model_dir: Path
) -> None:
    """deploy/smoke-test.sh as CD's deploy job runs it after a shadow stage (deploy/release-stage.sh)."""
    _, shadowed = pair
    env = {
        **os.environ,
        "EXPECT_MODEL_VERSION": SentimentModel.load(small_model_dir).version,
        "EXPECT_SHADOW_VERSION": SentimentModel.load(weak_model).version,
    }
    script = str(REPO_ROOT / "deploy" / "smoke-test.sh")
    out = subprocess.run(
        [script, shadowed.base_url, "30"], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"shadow: version {env['EXPECT_SHADOW_VERSION']}, ready" in out.stdout
    wrong = {**env, "EXPECT_SHADOW_VERSION": "not-the-challenger"}
    out = subprocess.run(
        [script, shadowed.base_url, "30"], env=wrong, capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode != 0 and "expected ['not-the-challenger']" in out.stderr


def test_copying_onto_the_mount_point_itself_fails_as_uid_10001(
    podman: Podman,  # noqa: F811
    challenger: str,
    tmp_path: Path,
) -> None:
    """Why the copy goes into a subfolder: copytree onto the root-owned mount point (its copystat)
    is refused to uid 10001, as an emptyDir's mount point is in a pod."""
    host = tmp_path / "emptydir"
    host.mkdir()
    host.chmod(0o777)
    script = "import shutil; shutil.copytree('/app/model', '/mnt/shadow', dirs_exist_ok=True)"
    out = podman(
        "run", "--rm", "--network=none", "--read-only", "--user", "10001:10001", "--cap-drop", "ALL",
        "--volume", f"{host}:/mnt/shadow", "--entrypoint", json.dumps(["python3", "-c", script]),
        challenger,
        check=False,
    )  # fmt: skip
    # copytree collects copystat's EPERM into shutil.Error; the files themselves were copied
    assert out.returncode != 0 and "Operation not permitted" in out.stderr, out.stderr
