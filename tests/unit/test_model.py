"""The model artifact: data only, saved atomically, and every broken file is a clear ModelError."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sentiment_mlops.model.artifact import (
    CARD_FILE,
    WEIGHTS_FILE,
    ModelError,
    SentimentModel,
    seen_bitmap,
    sigmoid,
)
from sentiment_mlops.model.features import FeaturizerSpec

SPEC = FeaturizerSpec(ngram_max=2, hash_bits=10)


def _model(seed: int = 0) -> SentimentModel:
    rng = np.random.default_rng(seed)
    weights = np.zeros(SPEC.n_features, dtype=np.float32)
    nz = rng.choice(SPEC.n_features, size=200, replace=False)
    weights[nz] = rng.normal(size=200).astype(np.float32)
    seen = seen_bitmap(nz, SPEC.n_features)
    return SentimentModel(SPEC, weights, float(rng.normal()), seen, {"name": "t", "version": f"v{seed}"})


REVIEWS = ["A wonderful, moving film!", "Dull and far too long.", "", "it's '' ok <br /> I guess?"]


def test_round_trip_is_exact(tmp_path: Path) -> None:
    model = _model()
    model.save(tmp_path / "m")
    loaded = SentimentModel.load(tmp_path / "m")
    assert loaded.spec == model.spec
    np.testing.assert_array_equal(loaded.weights, model.weights)
    np.testing.assert_array_equal(loaded.seen, model.seen)
    assert loaded.bias == model.bias
    assert loaded.card["version"] == "v0" and loaded.card["featurizer"] == SPEC.to_dict()
    np.testing.assert_array_equal(loaded.predict_proba(REVIEWS), model.predict_proba(REVIEWS))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [CARD_FILE, WEIGHTS_FILE]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging folder left behind


def test_weights_load_without_pickle(tmp_path: Path) -> None:
    _model().save(tmp_path / "m")
    with np.load(tmp_path / "m" / WEIGHTS_FILE, allow_pickle=False) as npz:
        assert set(npz.files) == {"indices", "values", "bias", "seen"}
        assert all(npz[name].dtype != object for name in npz.files)
    json.loads((tmp_path / "m" / CARD_FILE).read_text())  # the card is plain JSON


def test_pickled_array_is_refused(tmp_path: Path) -> None:
    _model().save(tmp_path / "m")
    weights = tmp_path / "m" / WEIGHTS_FILE
    np.savez(weights, indices=np.array([1], dtype=object), values=np.ones(1), bias=0.0, seen=np.zeros(128))
    with pytest.raises(ModelError, match=str(weights)):
        SentimentModel.load(tmp_path / "m")


def test_overwrite_replaces_the_previous_model(tmp_path: Path) -> None:
    _model(0).save(tmp_path / "m")
    _model(1).save(tmp_path / "m")
    assert SentimentModel.load(tmp_path / "m").card["version"] == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_failed_save_leaves_previous_model_intact(tmp_path: Path) -> None:
    good = _model(0)
    good.save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    broken = _model(1)
    broken.card["not_json"] = {1, 2}  # a set cannot be written as JSON: the save fails half-way
    with pytest.raises(TypeError):
        broken.save(tmp_path / "m")
    after = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # the staging folder was removed
    assert SentimentModel.load(tmp_path / "m").card["version"] == "v0"


def test_missing_directory_or_card(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=str(tmp_path / "absent")):
        SentimentModel.load(tmp_path / "absent")
    _model().save(tmp_path / "m")
    (tmp_path / "m" / CARD_FILE).unlink()
    with pytest.raises(ModelError, match=rf"{tmp_path / 'm' / CARD_FILE} is missing"):
        SentimentModel.load(tmp_path / "m")


def test_missing_weights(tmp_path: Path) -> None:
    _model().save(tmp_path / "m")
    (tmp_path / "m" / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelError, match=rf"{tmp_path / 'm' / WEIGHTS_FILE} is missing"):
        SentimentModel.load(tmp_path / "m")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped_bytes", "missing_array"])
def test_corrupt_weights(tmp_path: Path, damage: str) -> None:
    _model().save(tmp_path / "m")
    weights = tmp_path / "m" / WEIGHTS_FILE
    if damage == "garbage":
        weights.write_bytes(b"this is not a zip file")
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "flipped_bytes":  # bit rot inside the compressed arrays: zip header still valid
        blob = bytearray(weights.read_bytes())
        for i in range(200, 260):
            blob[i] ^= 0xFF
        weights.write_bytes(bytes(blob))
    else:
        with zipfile.ZipFile(weights) as zf:
            kept = {n: zf.read(n) for n in zf.namelist() if n != "values.npy"}
        with zipfile.ZipFile(weights, "w") as zf:
            for name, blob in kept.items():
                zf.writestr(name, blob)
    with pytest.raises(ModelError, match=str(weights)):
        SentimentModel.load(tmp_path / "m")


@pytest.mark.parametrize(
    "edit",
    [
        lambda card: card.pop("featurizer"),
        lambda card: card["featurizer"].update({"version": "some-other-featuriser"}),
        lambda card: card["featurizer"].update({"hash_bits": "many"}),
    ],
)
def test_invalid_card(tmp_path: Path, edit: object) -> None:
    _model().save(tmp_path / "m")
    card_path = tmp_path / "m" / CARD_FILE
    card = json.loads(card_path.read_text())
    assert callable(edit)
    edit(card)
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match=str(card_path)):
        SentimentModel.load(tmp_path / "m")


def test_card_that_is_not_json(tmp_path: Path) -> None:
    _model().save(tmp_path / "m")
    (tmp_path / "m" / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="invalid model card"):
        SentimentModel.load(tmp_path / "m")


def test_card_disagreeing_with_weights(tmp_path: Path) -> None:
    _model().save(tmp_path / "m")
    card_path = tmp_path / "m" / CARD_FILE
    card = json.loads(card_path.read_text())
    card["featurizer"]["hash_bits"] = 8  # weight indices reach 2**10
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="outside 2\\*\\*8"):
        SentimentModel.load(tmp_path / "m")


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ModelError, match="shape"):
        SentimentModel(SPEC, np.zeros(10, dtype=np.float32), 0.0, np.zeros(SPEC.n_features // 8, np.uint8))


def test_predict_agrees_with_predict_proba() -> None:
    model = _model()
    proba = model.predict_proba(REVIEWS)
    preds = model.predict(REVIEWS)
    assert [p.probability for p in preds] == pytest.approx(proba.tolist())
    assert [p.label for p in preds] == ["positive" if p >= 0.5 else "negative" for p in proba]
    assert preds[2].n_tokens == 0 and preds[2].probability == pytest.approx(
        float(sigmoid(np.array([model.bias]))[0])
    )


def test_sigmoid_is_stable_at_extremes() -> None:
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    p = sigmoid(z)
    assert np.all(np.isfinite(p)) and p[0] == 0.0 and p[2] == 0.5 and p[-1] == 1.0
    np.testing.assert_allclose(p + sigmoid(-z), 1.0)


def test_explain_names_the_strongest_ngrams() -> None:
    spec = FeaturizerSpec(ngram_max=1, hash_bits=10)
    from sentiment_mlops.model import tokenizer as text

    weights = np.zeros(spec.n_features, dtype=np.float32)
    buckets = {w: h & (spec.n_features - 1) for w, h in text.iter_ngrams(text.tokenize("great awful"), 1)}
    weights[buckets["great"]] = 2.0
    weights[buckets["awful"]] = -3.0
    model = SentimentModel(spec, weights, 0.0, seen_bitmap(np.array(list(buckets.values())), spec.n_features))
    assert model.explain("great but awful", top_k=2) == [
        {"ngram": "awful", "weight": -3.0},
        {"ngram": "great", "weight": 2.0},
    ]
