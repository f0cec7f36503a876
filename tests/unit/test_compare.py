"""`sentiment compare`: paired accuracy of champion and challenger, McNemar's exact test, the gate."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar as statsmodels_mcnemar

from sentiment_mlops.config import Params, Paths
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.registry.gate import PRODUCTION, REPORT, production_gate
from sentiment_mlops.training.compare import mcnemar


@pytest.mark.parametrize(("b", "c"), [(10, 2), (3, 3), (0, 7), (40, 25)])
def test_mcnemar_matches_statsmodels_exact_test(b: int, c: int) -> None:
    both = 50
    champion = np.array([True] * both + [True] * b + [False] * c + [False] * 5)
    challenger = np.array([True] * both + [False] * b + [True] * c + [False] * 5)
    result = mcnemar(champion, challenger)
    assert result["only_champion_right"] == b and result["only_challenger_right"] == c
    expected = statsmodels_mcnemar([[both, b], [c, 5]], exact=True).pvalue
    assert result["p_value"] == pytest.approx(expected)


def test_identical_models_give_p_one() -> None:
    right = np.array([True, False, True])
    assert mcnemar(right, right)["p_value"] == 1.0


def _params(limit: float | None) -> Params:
    return Params.model_validate({"registry": {"max_production_regression": limit}})


def test_production_gate(tmp_path) -> None:
    paths = Paths(tmp_path)
    assert production_gate(paths, _params(None), "abc")[0]
    assert production_gate(paths, _params(0.0), "abc") == (
        True,
        "no labelled production window yet: production clause skipped",
    )
    paths.production_window.parent.mkdir(parents=True)
    paths.production_window.write_bytes(b"")
    ok, why = production_gate(paths, _params(0.0), "abc")
    assert not ok and "run `sentiment compare`" in why

    def report(diff: float, challenger: str = "abc") -> None:
        atomic_write_json(
            paths.reports / REPORT,
            {"challenger": {"content_hash": challenger}, "sets": {PRODUCTION: {"difference": diff}}},
        )

    report(0.02)
    assert production_gate(paths, _params(0.0), "abc")[0]
    report(-0.01)
    assert not production_gate(paths, _params(0.0), "abc")[0]
    assert production_gate(paths, _params(0.02), "abc")[0]
    report(0.05, challenger="other")
    ok, why = production_gate(paths, _params(0.0), "abc")
    assert not ok and "another challenger" in why
