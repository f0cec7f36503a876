"""Length slices, the length-aware calibration and its place in the artifact."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from sentiment_mlops.model.artifact import ModelError, SentimentModel
from sentiment_mlops.model.calibration import LengthCalibration, probabilities, sigmoid, sigmoid_one
from sentiment_mlops.registry.gate import SHORT
from sentiment_mlops.training import calibrate, slices

REVIEW = "I went in hoping.<br /><br />The first hour drags! Is it worth it? Not really. 3/10"


def test_cuts_take_words_and_sentences_without_tags() -> None:
    assert slices.words(REVIEW)[:5] == ["I", "went", "in", "hoping.", "The"]
    assert slices.last_words(REVIEW, 3) == "Not really. 3/10"
    assert slices.last_words("two words", 10) == "two words"
    assert slices.first_sentence("One. Two! Three?") == "One."
    assert slices.last_sentence("One. Two! Three? four") == "four"
    assert slices.sentences("") == [""]
    assert slices.cut(["a b c d e f g h i j k l"], "last_10_words") == ["c d e f g h i j k l"]
    assert set(SHORT) <= set(slices.CUTS)  # the gate bounds slices that exist


def test_augment_gives_three_labelled_snippets_per_review_reproducibly() -> None:
    texts = [REVIEW, "Great fun. Loved it."]
    cuts, labels = slices.augment(texts, np.array([0, 1]), seed=1)
    assert len(cuts) == 6 and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert cuts[1] == slices.first_sentence(REVIEW) and cuts[2] == slices.last_sentence(REVIEW)
    assert all(c in " ".join(slices.words(t)) for c, t in zip(cuts, np.repeat(texts, 3), strict=True))
    assert slices.augment(texts, np.array([0, 1]), seed=1)[0] == cuts


def test_slice_metrics() -> None:
    y = np.array([0, 0, 1, 1])
    m = slices.metrics(y, np.array([0.2, 0.6, 0.7, 0.9]), bins=10)
    assert m["accuracy"] == 0.75 and m["positive_share"] == 0.75 and m["reviews"] == 4
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.4, 0.7, 0.9])))
    assert 0.0 <= m["ece"] <= 1.0


def test_length_calibration_batch_and_scalar_paths_agree() -> None:
    cal = LengthCalibration(2.0, 0.1, -0.2, -0.3, length2=0.01, interaction2=0.02, bend=0.5, bend_length=-0.1)
    z = np.linspace(-6, 6, 40)
    n = np.arange(40) * 13
    batch = probabilities(z, n, cal)  # numpy path
    single = np.array([probabilities(z[i : i + 1], n[i : i + 1], cal)[0] for i in range(40)])  # floats
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-12)
    ell, t = math.log1p(50), 1.5 / 2.5
    logit = (2.0 - 0.2 * ell + 0.02 * ell**2) * 1.5 + (0.5 - 0.1 * ell) * t + 0.1 * ell + 0.01 * ell**2 - 0.3
    assert cal.probability(1.5, 50) == pytest.approx(1 / (1 + math.exp(-logit)))
    np.testing.assert_array_equal(probabilities(z, n, None), sigmoid(z))  # no calibration: the logit's


def test_four_number_cards_still_load() -> None:
    old = {"method": "length_platt", "scale": 2.0, "length": 0.1, "interaction": -0.2, "shift": -0.3}
    cal = LengthCalibration.from_card({"calibration": old})
    assert cal == LengthCalibration(2.0, 0.1, -0.2, -0.3)
    ell = math.log1p(30)
    assert cal.probability(0.7, 30) == pytest.approx(sigmoid_one((2.0 - 0.2 * ell) * 0.7 + 0.1 * ell - 0.3))
    with pytest.raises(ValueError, match="length_platt_sat"):
        LengthCalibration.from_card({"calibration": old | {"method": "length_platt_sat"}})


def test_card_round_trip_and_damaged_card(small_project: Path, tmp_path: Path) -> None:
    model = SentimentModel.load(small_project / "models" / "model")
    cal = model.calibration
    assert cal is not None and LengthCalibration.from_card({"calibration": cal.to_card()}) == cal
    assert LengthCalibration.from_card({"calibration": {"method": "none"}}) is None
    scores = model.score(["Great.", "Dull and long."])
    np.testing.assert_allclose(model.predict_proba(["Great.", "Dull and long."]), model.probabilities(scores))
    np.testing.assert_allclose(
        model.probabilities(scores), sigmoid(cal.logits(scores.logits, scores.n_ngrams)), atol=1e-12
    )
    model.save(tmp_path / "m")
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    card["calibration"]["scale"] = "lots"
    (tmp_path / "m" / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="calibration"):
        SentimentModel.load(tmp_path / "m")


def _rows(n: np.ndarray) -> csr_matrix:
    """Binary rows holding ``n[i]`` distinct buckets each (only their count matters here)."""
    indptr = np.concatenate([[0], np.cumsum(n)])
    indices = np.concatenate([np.arange(k) for k in n]).astype(np.int32)
    return csr_matrix((np.ones(indptr[-1]), indices, indptr), shape=(len(n), int(n.max())))


def test_fit_length_recovers_a_length_dependent_truth() -> None:
    rng = np.random.default_rng(0)
    truth = LengthCalibration(1.5, 0.3, -0.2, -0.8, bend=0.8)
    n = np.concatenate([rng.integers(200, 800, 3000), rng.integers(3, 40, 3000)])
    z = rng.normal(0, 3, n.size)
    y = (rng.random(n.size) < sigmoid(truth.logits(z, n))).astype(int)
    val = calibrate.ValidationSets(y, {calibrate.WHOLE: _rows(n)})
    fitted = calibrate.fit_length({calibrate.WHOLE: z}, val)
    # Seven columns are partly collinear: judge the fitted curve, not each coefficient.
    grid_z, grid_n = np.meshgrid(np.linspace(-6, 6, 25), np.array([5, 20, 300, 700]))
    np.testing.assert_allclose(
        sigmoid(fitted.logits(grid_z.ravel(), grid_n.ravel())),
        sigmoid(truth.logits(grid_z.ravel(), grid_n.ravel())),
        atol=0.05,
    )
    assert calibrate.measure(fitted, {calibrate.WHOLE: z}, val)[calibrate.WHOLE]["ece"] < 0.03
