"""The pipeline end to end through the real CLI: a fast run on a small real sample, and the full run.

The fast test drives every stage on 1,000 reviews per split with a local MLflow store (sqlite +
artifact folder) in a temporary project. The slow test runs ``dvc repro`` on the full dataset and
holds it to the quality gate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sentiment_mlops.cli import app
from sentiment_mlops.config import load_params
from sentiment_mlops.model.artifact import SentimentModel
from tests.integration.dvc_project import DvcProject, build

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project folder (params.yaml only) with a local MLflow store, as the working directory.

    params.yaml is the repository's with a one-point grid and 2**20 buckets: this test is about the
    stages working together, and the full-data test below runs the real grid.
    """
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["features"]["hash_bits"] = 20
    raw["train"].update({"C": raw["train"]["C"][:1], "beta": [1.0], "nb_alpha": [1.0]})
    # A sample-trained model is not held to the full model's short-slice bounds (unit-tested).
    raw["registry"].update({"min_short_accuracy": None, "max_positive_share_drift": None})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SENTIMENT_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.delenv("SENTIMENT_MODEL_URI", raising=False)
    return tmp_path


def sentiment(*args: str, expect: int = 0, stdout_only: bool = False) -> str:
    """Run one ``sentiment`` command in-process; return stdout + stderr (or stdout only)."""
    result = CliRunner().invoke(app, list(args))
    output = result.stdout + result.stderr
    assert result.exit_code == expect, f"sentiment {' '.join(args)} exited {result.exit_code}:\n{output}"
    return result.stdout if stdout_only else output


def _set_floor(project: Path, floor: float) -> None:
    params = project / "params.yaml"
    text = params.read_text()
    start = text.index("  min_accuracy:")
    end = text.index("\n", start)
    params.write_text(text[:start] + f"  min_accuracy: {floor}" + text[end:])


def _champion(project: Path) -> str | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    try:
        return str(client.get_model_version_by_alias("sentiment", "champion").version)
    except MlflowException:
        return None


def test_small_pipeline_end_to_end(project: Path, imdb_archive: Path) -> None:
    started = time.perf_counter()
    sentiment("ingest", "--source", str(imdb_archive), "--sample", "1000")
    manifest = json.loads((project / "data" / "interim" / "manifest.json").read_text())
    assert manifest["counts"] == {"train": 1000, "test": 1000, "unsup": 1000}
    sentiment("split")
    assert len(pd.read_parquet(project / "data" / "processed" / "validation.parquet")) == 200
    sentiment("train")
    model = SentimentModel.load(project / "models" / "model")
    assert model.card["mlflow_run_id"]
    out = sentiment("evaluate")
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert f"accuracy {metrics['accuracy']:.4f}" in out
    assert 0.7 < metrics["accuracy"] < 0.9  # a real but small model: below the 0.90 floor
    assert (project / "artifacts").is_dir()  # MLFLOW_ARTIFACT_ROOT is where the local store writes

    # Promote needs a challenger first.
    out = sentiment("promote", expect=2)
    assert "error: promote: registered model 'sentiment' has no 'challenger' alias" in out

    out = sentiment("register")
    assert "registered sentiment version 1 as challenger" in out

    # The real floor (0.90): refused, the comparison printed, no champion appointed.
    out = sentiment("promote", expect=2)
    assert f"challenger v1: test accuracy {metrics['accuracy']:.4f}" in out
    assert "floor: 0.9000 -> FAILED" in out and "FAILED: champion unchanged" in out
    assert _champion(project) is None

    # A floor this small model clears: champion is version 1.
    _set_floor(project, 0.6)
    out = sentiment("promote")
    assert "no current champion" in out and out.strip().endswith("PASSED")
    assert _champion(project) == "1"

    # A second version under the real floor is refused against the champion; champion stays 1.
    sentiment("register")
    _set_floor(project, 0.9)
    out = sentiment("promote", expect=2)
    assert "challenger v2" in out and f"champion v1: {metrics['accuracy']:.4f}" in out
    assert "FAILED: champion unchanged" in out
    assert _champion(project) == "1"

    # Export the champion and score with it, without MLflow.
    out = sentiment("export")
    exported = SentimentModel.load(project / "models" / "export")
    assert exported.card["registry"]["version"] == "1" and exported.card["registry"]["alias"] == "champion"
    assert exported.version == "1"
    review = "A wonderful, moving film with a superb cast."
    line = json.loads(sentiment("predict", review, "--model-uri", "models/export", stdout_only=True))
    assert line["model_version"] == "1"
    assert line["probability"] == pytest.approx(float(model.predict_proba([review])[0]), abs=1e-6)
    uri = "models:/sentiment@champion"
    registry_line = json.loads(sentiment("predict", review, "--model-uri", uri, stdout_only=True))
    assert registry_line["probability"] == line["probability"]

    test = pd.read_parquet(project / "data" / "processed" / "test.parquet")
    test[["id", "text"]].to_json(project / "reviews.jsonl", orient="records", lines=True)
    out = sentiment("predict", "--input", "reviews.jsonl", "--output", "scored.parquet")
    scored = pd.read_parquet(project / "scored.parquet")
    assert len(scored) == 1000 and scored["id"].tolist() == test["id"].tolist()
    accuracy = float(((scored["label"] == "positive") == (test["label"] == 1)).mean())
    assert accuracy == pytest.approx(metrics["accuracy"], abs=1e-6)

    # A fresh interpreter loads the champion through MLflow's pyfunc flavour and scores raw strings.
    script = textwrap.dedent(
        """
        import json, mlflow, pandas as pd
        model = mlflow.pyfunc.load_model("models:/sentiment@champion")
        frame = model.predict(pd.DataFrame({"text": ["A wonderful, moving film with a superb cast.",
                                                     "Dull, predictable and far too long."]}))
        print(json.dumps({"columns": list(frame.columns), "rows": frame.to_dict("records")}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["columns"] == ["label", "probability"]
    first, second = answer["rows"]
    assert first["probability"] == pytest.approx(line["probability"], abs=1e-6)
    assert first["label"] == line["label"]
    assert second["label"] in ("positive", "negative") and 0.0 <= second["probability"] <= 1.0
    print(f"\nsmall pipeline end to end: {time.perf_counter() - started:.1f}s")


# --- the full dataset through DVC (slow) -----------------------------------------------------


@pytest.fixture(scope="session")
def dvc_project(tmp_path_factory: pytest.TempPathFactory, imdb_archive: Path) -> DvcProject:
    return build(tmp_path_factory.mktemp("dvc"), imdb_archive)


@pytest.mark.slow
def test_full_pipeline_with_dvc(dvc_project: DvcProject) -> None:
    project = dvc_project
    times = ", ".join(f"{stage} {s:.0f}s" for stage, s in project.stage_seconds.items())
    print(f"\ndvc repro from an empty cache: {sum(project.stage_seconds.values()):.0f}s ({times})")

    metrics = json.loads((project.root / "reports" / "metrics.json").read_text())
    print(f"full-data test accuracy {metrics['accuracy']:.4f}, ROC AUC {metrics['roc_auc']:.4f}")
    assert metrics["reviews"] == 25_000
    assert metrics["accuracy"] >= 0.91

    model_dir = project.root / "models" / "model"
    size_mb = sum(p.stat().st_size for p in model_dir.iterdir()) / 1e6
    print(f"model artifact {size_mb:.1f} MB")
    assert size_mb <= 40

    # A second repro has nothing to do.
    assert "Running stage" not in project.second_repro
    assert "Data and pipelines are up to date." in project.second_repro

    # The real quality gate (params.yaml's floor) lets the full-data model through.
    project.run("sentiment", "register")
    gate = project.run("sentiment", "promote").stdout
    print(gate)
    assert f"floor: {load_params(project.root / 'params.yaml').registry.min_accuracy:.4f} -> ok" in gate
    assert gate.strip().endswith("PASSED")
