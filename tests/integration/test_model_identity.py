"""Two models through the CI path and CD's model steps, against ``mlflow server`` with a PostgreSQL
backend store on loopback, as a team runs its registry: two different identities, and each one
the same in the registry, the image labels, ``/version``, the metrics and the predictions.

CI trains and evaluates with a throwaway local store; ``deploy/release-model.sh`` (what cd.yaml's
promote job runs) registers the model in the team's server, gates it and exports the registered
version; the service then serves that export as the release image does. Before, CI exported from
its own fresh store, so every deployed model called itself version "1".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import REPO_ROOT, free_port
from tests.integration.mlflow_server import MlflowServer
from tests.integration.serving_server import ApiServer

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
POSITIVE = "A wonderful, moving film with a superb cast."


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL is missing: apt-get install postgresql")
    return found[-1].parent


def _as_postgres(*argv: str | Path) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user when we are root."""
    command = [str(a) for a in argv]
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _pg(*argv: str | Path) -> None:
    subprocess.run(_as_postgres(*argv), check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1; its URI for MLflow's backend store."""
    pg = _pg_bin()
    # Outside pytest's temporary folders, which only root may enter: the cluster belongs to postgres.
    folder = Path(tempfile.mkdtemp(prefix="sentiment-postgres-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (folder, sockets):
            shutil.chown(path, "postgres")
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets}"
    try:
        _pg(pg / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
        _pg(pg / "pg_ctl", "-D", data, "-o", options, "-l", folder / "postgres.log", "-w", "start")
        try:
            _pg(pg / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow")
            # SQLAlchemy's driver named: psycopg2, the driver the project installs.
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
        finally:
            subprocess.run(_as_postgres(pg / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"), check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def team_registry(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 with the PostgreSQL store and a proxied artifact folder."""
    folder = tmp_path_factory.mktemp("mlflow-pg")
    with MlflowServer(folder, postgres) as server:
        yield server.url


def _env(root: Path, tracking: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "MLFLOW_", "SENTIMENT_"))}
    env["SENTIMENT_HOME"] = str(root)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if tracking:
        env["MLFLOW_TRACKING_URI"] = tracking
    return env


def _run(argv: list[str], root: Path, tracking: str | None = None) -> str:
    result = subprocess.run(
        argv, cwd=root, env=_env(root, tracking), capture_output=True, text=True, check=False, timeout=900
    )
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def ci_then_release(small_project: Path, root: Path, registry: str, c: float) -> dict[str, str]:
    """CI's pipeline steps (local store), then CD's model steps against the team's registry."""
    shutil.copytree(small_project / "data", root / "data")
    raw = yaml.safe_load((small_project / "params.yaml").read_text())
    raw["registry"]["min_accuracy"] = 0.6  # a 2,000-review model cannot reach the real floor
    raw["registry"].update({"min_short_accuracy": None, "max_positive_share_drift": None})  # nor these
    raw["features"]["hash_bits"] = 20
    raw["train"].update({"C": [c], "beta": [1.0], "nb_alpha": [1.0]})  # a different model per C
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    sentiment = str(BIN / "sentiment")
    _run([sentiment, "train"], root)  # CI: tracked in the project's own throwaway store
    _run([sentiment, "evaluate"], root)
    return release(root, registry)


def release(root: Path, registry: str) -> dict[str, str]:
    """CD's model steps (deploy/release-model.sh) for the model in ``root``: its identity labels."""
    out = root / "build" / "model"
    printed = _run(
        [str(REPO_ROOT / "deploy" / "release-model.sh"), str(out)],
        root,
        tracking=registry,
    )
    labels = dict(line.split("=", 1) for line in printed.strip().splitlines())
    labels["dir"] = str(out)
    return labels


@pytest.fixture(scope="module")
def released(
    small_project: Path, team_registry: str, tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, str]]:
    base = tmp_path_factory.mktemp("identity")
    return [
        ci_then_release(small_project, base / f"model-{i}", team_registry, c)
        for i, c in enumerate((0.1, 3.0))
    ]


def test_two_models_have_two_identities(released: list[dict[str, str]]) -> None:
    first, second = released
    key = "io.sentiment-mlops.model."
    assert (first[f"{key}version"], second[f"{key}version"]) == ("1", "2")  # the team registry's
    assert first[f"{key}content-hash"] != second[f"{key}content-hash"]
    assert first[f"{key}name"] == second[f"{key}name"] == "sentiment"


def test_the_registry_holds_the_same_identity(released: list[dict[str, str]], team_registry: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=team_registry)
    for labels in released:
        version = client.get_model_version("sentiment", labels["io.sentiment-mlops.model.version"])
        assert version.tags["model_version_hash"] == labels["io.sentiment-mlops.model.content-hash"]
        run = client.get_run(version.run_id)
        assert run.data.tags["model_version_hash"] == labels["io.sentiment-mlops.model.content-hash"]
    champion = client.get_model_version_by_alias("sentiment", "champion")
    assert champion.version == released[-1]["io.sentiment-mlops.model.version"]


@pytest.mark.parametrize("which", [0, 1])
def test_every_surface_of_the_service_states_the_identity_of_the_labels(
    released: list[dict[str, str]], which: int, tmp_path: Path
) -> None:
    labels = released[which]
    version = labels["io.sentiment-mlops.model.version"]
    content_hash = labels["io.sentiment-mlops.model.content-hash"]
    identity = {"name": "sentiment", "version": version, "content_hash": content_hash}
    with ApiServer(labels["dir"], tmp_path, workers=1) as api:
        model = requests.get(f"{api.url}/version", timeout=5).json()["model"]
        assert {k: model[k] for k in identity} == identity
        assert model["alias"] is not None
        assert requests.get(f"{api.url}/readyz", timeout=5).json()["model"] == identity
        predicted = requests.post(f"{api.url}/v1/predict", json={"text": POSITIVE}, timeout=5).json()
        assert predicted["model"] == identity
        meta = requests.get(f"{api.url}/v2/models/sentiment/versions/{version}", timeout=5).json()
        assert meta["versions"] == [version] and meta["parameters"]["content_hash"] == content_hash
        infer = requests.post(
            f"{api.url}/v2/models/sentiment/infer",
            json={"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [POSITIVE]}]},
            timeout=5,
        ).json()
        assert infer["model_version"] == version and infer["parameters"]["content_hash"] == content_hash
        metrics = requests.get(f"{api.url}/metrics", timeout=5).text
        info = [line for line in metrics.splitlines() if line.startswith("model_info{")]
        assert len(info) == 1, info
        assert f'version="{version}"' in info[0] and f'content_hash="{content_hash}"' in info[0]
        assert info[0].endswith(" 1.0")


def test_the_shadow_stage_registers_then_the_release_promotes_that_version(
    released: list[dict[str, str]],
    team_registry: str,
    small_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CD with SENTIMENT_DELIVERY_STAGE=shadow: version N is registered and exported with its card
    # (the challenger image's), the champion stays where it was; the stage goes to the job's outputs.
    # Then CD's release of the same model promotes N itself.
    from mlflow import MlflowClient

    from sentiment_mlops.model.artifact import SentimentModel

    client = MlflowClient(tracking_uri=team_registry)
    before = client.get_model_version_by_alias("sentiment", "champion").version
    output = tmp_path / "github-output"
    monkeypatch.setenv("RELEASE_STAGE", "shadow")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    labels = ci_then_release(small_project, tmp_path / "challenger", team_registry, 1.0)
    version = labels["io.sentiment-mlops.model.version"]
    assert version == str(len(released) + 1)
    assert client.get_model_version_by_alias("sentiment", "champion").version == before
    assert client.get_model_version_by_alias("sentiment", "challenger").version == version
    assert SentimentModel.load(labels["dir"]).version == version
    assert "stage=shadow" in output.read_text().splitlines()

    # The release after it (SENTIMENT_SHADOW_VERSION=N): N itself is gated, promoted and exported;
    # the registry gains no version. Another model's release naming N is refused first.
    monkeypatch.setenv("RELEASE_STAGE", "release")
    monkeypatch.setenv("SHADOW_VERSION", version)
    other = Path(released[0]["dir"]).parents[1]
    refused = subprocess.run(
        [str(REPO_ROOT / "deploy" / "release-model.sh"), str(tmp_path / "refused")],
        cwd=other,
        env=_env(other, team_registry),
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert "the weights shadowed are not the weights being released" in refused.stderr
    assert client.get_model_version_by_alias("sentiment", "champion").version == before
    shadowed = {k: v for k, v in labels.items() if k != "dir"}
    labels = release(tmp_path / "challenger", team_registry)
    assert {k: v for k, v in labels.items() if k != "dir"} == shadowed
    assert client.get_model_version_by_alias("sentiment", "champion").version == version
    registered = client.search_model_versions("name = 'sentiment'")
    assert sorted(int(v.version) for v in registered) == list(range(1, len(released) + 2))
    assert (
        client.get_model_version("sentiment", version).tags["model_version_hash"]
        == labels["io.sentiment-mlops.model.content-hash"]
    )


def test_the_runbooks_rollback_points_the_registry_at_the_model_that_serves(
    released: list[dict[str, str]], team_registry: str, tmp_path: Path
) -> None:
    # docs/runbook.md: `kubectl rollout undo` brings back the previous image (here: the previous
    # release's model folder, served as that image serves it); read its /version, then
    # `sentiment restore-champion <version>` against the team's registry.
    from mlflow import MlflowClient

    previous = released[0]
    with ApiServer(previous["dir"], tmp_path, workers=1) as api:
        serving = requests.get(f"{api.url}/version", timeout=5).json()["model"]["version"]
    assert serving == previous["io.sentiment-mlops.model.version"]
    root = Path(previous["dir"]).parents[1]
    out = _run([str(BIN / "sentiment"), "restore-champion", serving], root, tracking=team_registry)
    assert f"champion -> version {serving}" in out
    champion = MlflowClient(tracking_uri=team_registry).get_model_version_by_alias("sentiment", "champion")
    assert champion.version == serving
    unknown = subprocess.run(
        [str(BIN / "sentiment"), "restore-champion", "99"],
        cwd=root,
        env=_env(root, team_registry),
        capture_output=True,
        text=True,
        check=False,
    )
    assert unknown.returncode == 2 and "no version '99'" in unknown.stderr
    # CD's restore after a first release that failed: no champion was recorded, so none is left.
    out = _run([str(BIN / "sentiment"), "restore-champion", ""], root, tracking=team_registry)
    assert "champion -> none" in out
    aliases = MlflowClient(tracking_uri=team_registry).get_registered_model("sentiment").aliases
    assert "champion" not in aliases
