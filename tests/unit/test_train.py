"""Training core on tiny constructed data: NB ratio signs, determinism, snippets, the validation search."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from sentiment_mlops.config import Params, load_params
from sentiment_mlops.model.artifact import SentimentModel, sigmoid
from sentiment_mlops.training import nbsvm, slices
from sentiment_mlops.training.calibrate import WHOLE, ValidationSets
from tests.unit.conftest import SPLIT_REVIEWS

N_FEATURES = 1 << 10
S, R, T, POS_ONLY, NEG_ONLY, RARE = 3, 7, 11, 20, 21, 30


def _matrix(groups: list[tuple[list[int], int, int]]) -> tuple[csr_matrix, np.ndarray]:
    """Rows of binary features from (bucket list, label, copies) groups."""
    rows: list[list[int]] = []
    labels: list[int] = []
    for buckets, label, copies in groups:
        rows += [sorted(buckets)] * copies
        labels += [label] * copies
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.concatenate(rows)
    X = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), N_FEATURES))
    return X, np.array(labels, dtype=np.int64)


def _params(**train_params: object) -> Params:
    # Plain logistic function unless asked: the constructed cases check accuracy at 0.5.
    train = {"max_iter": 1000, "calibrate": False} | train_params
    return Params.model_validate({"features": {"min_df": 1, "hash_bits": 10}, "train": train})


def _val(X: csr_matrix, y: np.ndarray) -> ValidationSets:
    return ValidationSets(y, {WHOLE: X})


def _fit(X: csr_matrix, y: np.ndarray, **kw: float | nbsvm.Snippets) -> nbsvm.Fitted:
    args = {"C": 1.0, "nb_alpha": 1.0, "beta": 1.0, "min_df": 1, "max_iter": 1000} | kw
    return nbsvm.fit_nbsvm(X, y, **args)  # type: ignore[arg-type]


def test_nb_ratio_signs_follow_the_labels() -> None:
    X, y = _matrix([([POS_ONLY, S], 1, 10), ([NEG_ONLY, S], 0, 10), ([RARE], 1, 1)])
    fitted = _fit(X, y, min_df=2)
    w = fitted.weights
    assert w[POS_ONLY] > 0 > w[NEG_ONLY]
    assert w[S] == pytest.approx(0.0, abs=1e-6)  # in every review of both classes: no evidence
    assert w[RARE] == 0.0  # below min_df: no weight, though seen
    assert set(fitted.seen_buckets.tolist()) == {S, POS_ONLY, NEG_ONLY, RARE}
    # the ratio itself, on the compacted matrix: log of smoothed class frequencies
    prep = nbsvm._Prepared(X, y, min_df=1)
    r = dict(zip(prep.columns.tolist(), prep.nb_ratio(1.0).tolist(), strict=True))
    assert r[POS_ONLY] > 0 > r[NEG_ONLY]
    p, q = np.array([1 + 10, 1 + 10, 1 + 0, 1 + 1]), np.array([1 + 10, 1 + 0, 1 + 10, 1 + 0])
    expected = np.log((p / p.sum()) / (q / q.sum()))  # columns S, POS_ONLY, NEG_ONLY, RARE
    # float32, as the weights are stored
    np.testing.assert_allclose([r[S], r[POS_ONLY], r[NEG_ONLY], r[RARE]], expected, rtol=1e-6)


def test_fit_is_deterministic_and_separates() -> None:
    X, y = _matrix([([POS_ONLY, S], 1, 15), ([NEG_ONLY, S], 0, 15), ([T], 1, 3), ([T, R], 0, 3)])
    a, b = _fit(X, y), _fit(X, y)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.bias == b.bias
    assert a.weights.dtype == np.float32 and a.weights.shape == (N_FEATURES,)
    proba = sigmoid(X @ a.weights.astype(np.float64) + a.bias)
    assert np.array_equal(proba >= 0.5, y == 1)


def test_beta_interpolates_towards_mean_magnitude() -> None:
    w = np.array([-2.0, 0.0, 1.0])
    np.testing.assert_allclose(nbsvm._interpolate(w, 1.0), w)
    np.testing.assert_allclose(nbsvm._interpolate(w, 0.0), np.full(3, 1.0))
    np.testing.assert_allclose(nbsvm._interpolate(w, 0.5), 0.5 * 1.0 + 0.5 * w)


# A constructed case where C decides: S leans positive (30 vs 10), R appears only in 4 negative
# reviews that also hold S. A large C fits those 4 (S+R -> negative); a small C shrinks the
# rarely-seen R and keeps S+R positive. Validation says which reading is right.
TRAIN = [([S], 1, 30), ([S], 0, 6), ([S, R], 0, 4), ([T], 0, 20)]


@pytest.mark.parametrize(("validation_label", "best_c"), [(1, 0.1), (0, 100.0)])
def test_search_picks_the_c_that_wins_on_validation(validation_label: int, best_c: float) -> None:
    X_train, y_train = _matrix(TRAIN)
    X_val, y_val = _matrix([([S, R], validation_label, 50), ([T], 0, 50)])
    ranked = nbsvm.search(
        X_train, y_train, _val(X_val, y_val), _params(C=[100.0, 0.1], beta=[1.0], nb_alpha=[1.0])
    )
    assert [c.C for c in ranked] == [best_c, 100.0 if best_c == 0.1 else 0.1]
    assert ranked[0].accuracy == 1.0 and ranked[1].accuracy == 0.5
    # the reported accuracy is what the refit model with those settings scores
    for cand in ranked:
        fitted = _fit(X_train, y_train, C=cand.C, nb_alpha=cand.nb_alpha, beta=cand.beta)
        proba = sigmoid(X_val @ fitted.weights.astype(np.float64) + fitted.bias)
        assert float(np.mean((proba >= 0.5) == y_val)) == pytest.approx(cand.accuracy)
        assert slices.metrics(y_val, proba, 10)["log_loss"] == pytest.approx(cand.log_loss, rel=1e-4)


def test_search_covers_the_grid_best_first() -> None:
    X_train, y_train = _matrix(TRAIN)
    X_val, y_val = _matrix([([S, R], 1, 50), ([T], 0, 50)])
    params = _params(C=[0.01, 0.1, 100.0], beta=[0.5, 1.0], nb_alpha=[0.5, 1.0])
    ranked = nbsvm.search(X_train, y_train, _val(X_val, y_val), params)
    assert len(ranked) == 3 * 2 * 2
    assert {(c.C, c.beta, c.nb_alpha) for c in ranked} == {
        (C, b, a) for C in (0.01, 0.1, 100.0) for b in (0.5, 1.0) for a in (0.5, 1.0)
    }
    keys = [(-c.accuracy, c.log_loss, c.C) for c in ranked]
    assert keys == sorted(keys)  # best accuracy first, ties to the lower log loss
    assert ranked == nbsvm.search(X_train, y_train, _val(X_val, y_val), params)  # deterministic


def test_run_writes_model_card_and_report(small_project: Path) -> None:
    """The train stage on the test corpus (the session fixture of tests/unit/conftest.py)."""
    params = load_params(small_project / "params.yaml")
    model = SentimentModel.load(small_project / "models" / "model")
    report = json.loads((small_project / "reports" / "train.json").read_text())
    chosen = report["chosen"]
    assert report["search"][0] == chosen
    grid = params.train
    assert len(report["search"]) == len(grid.C) * len(grid.beta) * len(grid.nb_alpha) * len(
        grid.snippet_weight
    )
    assert model.card["chosen"] == {k: chosen[k] for k in ("C", "nb_alpha", "beta", "snippet_weight")}
    assert set(chosen["slices"]) == set(slices.CUTS)  # chosen on the validation slices too
    assert model.card["calibration"]["method"] == "length_platt_sat"
    # The calibration carries the bias: the scored logit is the weight sum alone, so an empty
    # review scores the calibration's value at zero n-grams, whatever the regression's intercept.
    assert model.bias == 0.0 and isinstance(model.card["regression_intercept"], float)
    cal = model.calibration
    assert cal is not None
    assert model.predict_proba([""])[0] == pytest.approx(1 / (1 + np.exp(-cal.shift)))
    assert model.card["validation"]["accuracy"] == chosen["accuracy"]
    assert chosen["accuracy"] > 0.75  # the corpus has a real, learnable signal
    digest = hashlib.sha256()
    for name in ("train.parquet", "validation.parquet"):
        digest.update((small_project / "data" / "processed" / name).read_bytes())
    assert model.card["training_data_sha256"] == digest.hexdigest()
    assert model.card["training_reviews"] == SPLIT_REVIEWS  # refit on train + validation
    assert model.card["params"]["features"] == params.features.model_dump()
    assert model.version == hashlib.sha256(model.weights.tobytes()).hexdigest()[:12]
    baseline = model.card["baseline"]
    assert baseline["reviews"] == SPLIT_REVIEWS and 0.0 < baseline["positive_share"] < 1.0
    assert sum(baseline["probability_histogram"]) == pytest.approx(1.0, abs=1e-4)
    assert model.card["weights_nonzero"] == int(np.count_nonzero(model.weights))


def test_snippets_join_the_fit_but_not_the_nb_statistics() -> None:
    X, y = _matrix([([POS_ONLY, S], 1, 10), ([NEG_ONLY, S], 0, 10)])
    # Snippets that hold S alone, all labelled positive: with weight they pull S (and the bias)
    # positive; the NB ratio of S stays neutral, counted on whole reviews only.
    S_X, S_y = _matrix([([S], 1, 10)])
    plain = _fit(X, y, min_df=1)
    snippets = nbsvm.Snippets(S_X, S_y)
    pulled = _fit(X, y, snippets=snippets, snippet_weight=1.0)
    assert pulled.bias > plain.bias
    none = _fit(X, y, snippets=snippets, snippet_weight=0.0)
    np.testing.assert_array_equal(none.weights, plain.weights)


def test_rank_weighs_short_slices_by_short_weight() -> None:
    whole_best = nbsvm.Candidate(1.0, 1.0, 1.0, 0.0, accuracy=0.92, log_loss=0.2, short_accuracy=0.70)
    short_best = nbsvm.Candidate(1.0, 1.0, 1.0, 0.1, accuracy=0.91, log_loss=0.2, short_accuracy=0.76)
    assert min([whole_best, short_best], key=lambda c: nbsvm.rank_key(c, 0.0)) is whole_best
    assert min([whole_best, short_best], key=lambda c: nbsvm.rank_key(c, 0.5)) is short_best
