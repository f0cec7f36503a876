"""Training on Spark: statistics aggregated on the cluster, and the model the local trainer makes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from sentiment_mlops.config import Paths, load_params
from sentiment_mlops.model.artifact import SentimentModel
from sentiment_mlops.model.features import FeaturizerSpec
from sentiment_mlops.training import nbsvm, spark_stats, train
from sentiment_mlops.training.statistics import NBStatistics

pytestmark = [pytest.mark.integration, pytest.mark.shared]


@pytest.fixture(scope="module")
def project(small_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's splits with a one-point search grid (the engines share the search code)."""
    root = tmp_path_factory.mktemp("spark-train")
    shutil.copytree(small_project / "data", root / "data")
    params = yaml.safe_load((small_project / "params.yaml").read_text())
    params["train"].update(C=[1.0], beta=[0.5], nb_alpha=[1.0])
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def test_statistics_on_spark_equal_the_local_ones(spark, project: Path) -> None:
    paths, params = Paths(project), load_params(project / "params.yaml")
    spec = FeaturizerSpec(params.features.ngram_max, params.features.hash_bits, params.features.binary)
    counted = spark_stats.count_splits(spark, paths, spec)

    from sentiment_mlops.data.splits import read_split
    from sentiment_mlops.model import features

    train_df = read_split(paths, "train")
    X_local = features.featurize(train_df["text"].tolist(), spec)
    assert (counted.X_train != X_local).nnz == 0  # same rows, in the file's order
    assert counted.y_train.tolist() == train_df["label"].tolist()
    seen = np.unique(X_local.indices)
    local = NBStatistics.of(seen, X_local[:, seen].tocsc(), counted.y_train)
    for field in ("seen", "df", "positive", "negative"):
        assert np.array_equal(getattr(counted.train, field), getattr(local, field)), field
    both = counted.train_and_validation
    assert both.df.sum() == counted.X_train.nnz + counted.X_val.nnz
    assert both.positive.sum() + both.negative.sum() == counted.X_train.sum() + counted.X_val.sum()


def test_the_spark_trainer_makes_the_local_model(spark, project: Path) -> None:
    paths, params = Paths(project), load_params(project / "params.yaml")
    local = train.run(paths, params, track=False)
    shutil.move(paths.model_dir, project / "local-model")

    on_spark = train.run(paths, params, track=False, engine="spark")

    assert on_spark.version == local.version
    assert np.array_equal(on_spark.weights, local.weights) and on_spark.bias == local.bias
    assert np.array_equal(on_spark.seen, local.seen)
    saved = SentimentModel.load(paths.model_dir)
    drop = {"created"}
    assert {k: v for k, v in saved.card.items() if k not in drop} == {
        k: v for k, v in SentimentModel.load(project / "local-model").card.items() if k not in drop
    }


def test_mllib_on_the_cluster_fits_what_the_driver_fits(spark, project: Path) -> None:
    """The alternative fit (MLlib, on the executors) learns the same classifier as the driver's
    liblinear fit, on the same rows and statistics: the same objective, another solver, so close
    rather than equal."""
    from sentiment_mlops.model.artifact import sigmoid
    from sentiment_mlops.training import spark_cluster_fit

    paths, params = Paths(project), load_params(project / "params.yaml")
    spec = FeaturizerSpec(params.features.ngram_max, params.features.hash_bits, params.features.binary)
    counted = spark_stats.count_splits(spark, paths, spec)
    hyper = {"C": 1.0, "nb_alpha": 1.0, "beta": 0.5, "min_df": params.features.min_df, "max_iter": 200}
    rows = spark_stats.featurized(spark, paths, spec).where("split = 0")  # train only: validation held out
    on_cluster = spark_cluster_fit.fit_on_cluster(
        spark, rows, counted.train, n_features=spec.n_features, **hyper
    )
    on_driver = nbsvm.fit_nbsvm(counted.X_train, counted.y_train, stats=counted.train, **hyper)

    assert on_cluster.iterations > 1
    assert not np.any(on_cluster.weights[on_driver.weights == 0])  # only the kept n-grams weigh
    X = counted.X_val.astype(np.float64)
    p_cluster = sigmoid(X @ on_cluster.weights + on_cluster.bias)
    p_driver = sigmoid(X @ on_driver.weights + on_driver.bias)
    assert np.mean((p_cluster >= 0.5) == (p_driver >= 0.5)) >= 0.85
    acc = [np.mean((p >= 0.5) == counted.y_val) for p in (p_cluster, p_driver)]
    assert acc[0] >= acc[1] - 0.03
