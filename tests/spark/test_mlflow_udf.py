"""The MLflow-native route: ``mlflow.pyfunc.spark_udf`` on the registered model scores as locally."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.config import Paths, load_params
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.registry import versions as registry

pytestmark = [pytest.mark.integration, pytest.mark.shared]


def test_spark_udf_of_the_registered_model(spark, small_project: Path, tmp_path: Path, monkeypatch) -> None:
    import mlflow.pyfunc

    root = tmp_path / "project"
    shutil.copytree(small_project / "models", root / "models")
    shutil.copytree(small_project / "reports", root / "reports")
    shutil.copy(small_project / "params.yaml", root / "params.yaml")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    paths, params = Paths(root), load_params(root / "params.yaml")
    registry.register(paths, params)
    uri = f"models:/{params.registry.model_name}@{registry.CHALLENGER}"

    texts = pd.read_parquet(small_project / "data" / "processed" / "test.parquet")["text"].head(300)
    df = spark.createDataFrame(pd.DataFrame({"text": texts}))
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type="label string, probability double")
    out = df.withColumn("prediction", udf("text")).select("text", "prediction.*").toPandas()

    local = SentimentModel.load(root / "models" / "model")
    out = out.set_index("text").loc[texts]
    assert out["probability"].tolist() == local.predict_proba(texts.tolist()).tolist()  # bit for bit
    assert out["label"].tolist() == [p.label for p in local.predict(texts.tolist())]
