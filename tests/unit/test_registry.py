"""The promotion gate: an absolute floor, no worse than the champion by more than the margin, and
the short-input slices (accuracy floor, predicted-positive share near 0.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiment_mlops.config import Params, load_params
from sentiment_mlops.registry.gate import decide


def _params(min_accuracy: float = 0.90, max_regression: float = 0.005) -> Params:
    return Params.model_validate(
        {"registry": {"min_accuracy": min_accuracy, "max_regression": max_regression}}
    )


@pytest.mark.parametrize(("accuracy", "passed"), [(0.8999, False), (0.90, True), (0.95, True), (0.5, False)])
def test_floor_without_champion(accuracy: float, passed: bool) -> None:
    decision = decide(_params(), ("3", accuracy), None)
    assert decision.passed is passed
    assert decision.champion_version is None and decision.champion_accuracy is None
    text = decision.explain()
    assert "no current champion" in text
    assert f"challenger v3: test accuracy {accuracy:.4f}" in text
    assert text.splitlines()[-1] == ("PASSED" if passed else "FAILED: champion unchanged")


@pytest.mark.parametrize(
    ("challenger", "champion", "passed"),
    [
        (0.920, 0.920, True),  # equal
        (0.930, 0.920, True),  # better
        (0.916, 0.920, True),  # worse, but within the 0.005 margin
        (0.915, 0.920, True),  # exactly at the margin
        (0.914, 0.920, False),  # beyond the margin
        (0.899, 0.880, False),  # better than the champion, but under the floor
    ],
)
def test_regression_margin(challenger: float, champion: float, passed: bool) -> None:
    decision = decide(_params(), ("5", challenger), ("4", champion))
    assert decision.passed is passed
    text = decision.explain()
    assert f"champion v4: {champion:.4f}" in text
    assert f"needs >= {champion - 0.005:.4f}" in text
    assert ("FAILED: champion unchanged" in text) is not passed


def test_failure_names_which_check_failed() -> None:
    text = decide(_params(), ("5", 0.91), ("4", 0.93)).explain()
    floor_line, champion_line = text.splitlines()[1:3]
    assert floor_line.endswith("ok") and champion_line.endswith("FAILED")
    text = decide(_params(), ("5", 0.85), ("4", 0.84)).explain()
    floor_line, champion_line = text.splitlines()[1:3]
    assert floor_line.endswith("FAILED") and champion_line.endswith("ok")


def test_challenger_that_is_already_champion_is_judged_by_the_floor_only() -> None:
    assert decide(_params(), ("4", 0.91), ("4", 0.91)).passed
    assert not decide(_params(), ("4", 0.89), ("4", 0.89)).passed


def test_gate_parameters_come_from_params() -> None:
    loose = _params(min_accuracy=0.5, max_regression=0.1)
    decision = decide(loose, ("2", 0.81), ("1", 0.90))
    assert decision.passed and decision.min_accuracy == 0.5 and decision.max_regression == 0.1
    assert not decide(loose, ("2", 0.79), ("1", 0.90)).passed


def _short_params(floor: float = 0.74, drift: float = 0.05) -> Params:
    return Params.model_validate(
        {"registry": {"min_short_accuracy": floor, "max_positive_share_drift": drift}}
    )


FAIR = {"last_10_words": (0.77, 0.51), "last_20_words": (0.81, 0.50)}


def test_short_clause_passes_a_fair_challenger() -> None:
    decision = decide(_short_params(), ("6", 0.92), ("5", 0.92), FAIR)
    assert decision.passed
    assert [line.endswith("ok") for line in decision.short] == [True, True]
    assert "last_10_words: accuracy 0.7700" in decision.explain()


@pytest.mark.parametrize(
    "short",
    [
        {"last_10_words": (0.716, 0.726), "last_20_words": (0.78, 0.639)},  # issue 12's champion: biased
        {"last_10_words": (0.77, 0.56), "last_20_words": (0.81, 0.50)},  # fair accuracy, leans positive
        {"last_10_words": (0.77, 0.44), "last_20_words": (0.81, 0.50)},  # leans negative
        {"last_10_words": (0.73, 0.50), "last_20_words": (0.81, 0.50)},  # under the floor
    ],
)
def test_a_challenger_that_brings_the_bias_back_is_refused(short: dict[str, tuple[float, float]]) -> None:
    decision = decide(_short_params(), ("6", 0.93), ("5", 0.92), short)  # better on whole reviews
    assert not decision.passed
    assert any(line.endswith("FAILED") for line in decision.short)
    assert decision.explain().splitlines()[-1] == "FAILED: champion unchanged"


def test_short_clause_needs_the_slice_metrics_when_bounded() -> None:
    decision = decide(_short_params(), ("6", 0.93), None, None)
    assert not decision.passed and "no test_slices" in decision.explain()
    assert decide(_params(), ("6", 0.93), None, None).passed  # unbounded: not asked for


def test_params_yaml_bounds_the_short_slices(repo_root: Path) -> None:
    rp = load_params(repo_root / "params.yaml").registry
    assert rp.min_short_accuracy is not None and rp.max_positive_share_drift is not None
    assert 0.0 < rp.max_positive_share_drift <= 0.1
