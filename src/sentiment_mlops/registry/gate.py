"""The quality gate, pure: the figures of a challenger (and of the champion) in, a verdict out.

An absolute floor on test accuracy, no worse than the champion by more than a margin, and the
short-input slices (``SHORT``: the last 10 and 20 words of each test review) at or above a floor
with their share predicted positive near 0.5. :mod:`.versions` reads the figures from MLflow.
The production clause (:func:`production_gate`) reads ``sentiment compare``'s report, whose name and
production set are defined here, where the gate that requires them stands.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from sentiment_mlops.config import Params, Paths

# The length slices (sentiment_mlops.training.slices) the short-input clause bounds: the gate owns
# the choice; training selects its model on the same slices.
SHORT = ("last_10_words", "last_20_words")
# ``sentiment compare``'s report under reports/, and its set of labelled production reviews.
REPORT = "compare.json"
PRODUCTION = "production_window"


class GateFailedError(RuntimeError):
    """The challenger did not clear the quality gate; the message holds the comparison."""


@dataclass(frozen=True)
class GateDecision:
    """The quality gate's verdict and the figures it compared."""

    passed: bool
    challenger_version: str
    challenger_accuracy: float
    champion_version: str | None
    champion_accuracy: float | None
    min_accuracy: float
    max_regression: float
    production: str | None = None  # the production-window clause's verdict, when required
    short: tuple[str, ...] = ()  # the short-slice clause's lines, when bounded

    def explain(self) -> str:
        lines = [
            f"challenger v{self.challenger_version}: test accuracy {self.challenger_accuracy:.4f}",
            f"  floor: {self.min_accuracy:.4f} -> "
            + ("ok" if self.challenger_accuracy >= self.min_accuracy else "FAILED"),
        ]
        if self.champion_accuracy is not None:
            bar = self.champion_accuracy - self.max_regression
            lines.append(
                f"  champion v{self.champion_version}: {self.champion_accuracy:.4f}, allowed regression "
                f"{self.max_regression:.4f} -> needs >= {bar:.4f}: "
                + ("ok" if self.challenger_accuracy >= bar else "FAILED")
            )
        else:
            lines.append("  no current champion")
        lines.extend(f"  {line}" for line in self.short)
        if self.production:
            lines.append(f"  {self.production}")
        lines.append("PASSED" if self.passed else "FAILED: champion unchanged")
        return "\n".join(lines)


def short_clause(
    params: Params, short: dict[str, tuple[float, float]] | None
) -> tuple[bool, tuple[str, ...]]:
    """The short-input clause: each of ``SHORT``'s slices (accuracy, share predicted positive) at or
    above ``min_short_accuracy`` and within 0.5 +- ``max_positive_share_drift``."""
    floor, drift = params.registry.min_short_accuracy, params.registry.max_positive_share_drift
    if floor is None and drift is None:
        return True, ()
    if short is None:
        return False, ("short slices: the run has no test_slices.* metrics (evaluate it again) -> FAILED",)
    ok, lines = True, []
    for name in SHORT:
        accuracy, share = short[name]
        good = (floor is None or accuracy >= floor) and (drift is None or abs(share - 0.5) <= drift)
        ok = ok and good
        lines.append(
            f"{name}: accuracy {accuracy:.4f} (floor {floor if floor is not None else '-'}), positive share "
            f"{share:.3f} (0.5 +- {drift if drift is not None else '-'}) -> " + ("ok" if good else "FAILED")
        )
    return ok, tuple(lines)


def decide(
    params: Params,
    challenger: tuple[str, float],
    champion: tuple[str, float] | None,
    short: dict[str, tuple[float, float]] | None = None,
) -> GateDecision:
    """Pure gate: an absolute floor, no worse than the champion by more than the margin, and the
    challenger's short slices (``{slice: (accuracy, positive share)}``) within their bounds."""
    rp = params.registry
    version, accuracy = challenger
    passed = accuracy >= rp.min_accuracy
    if champion is not None and champion[0] != version:
        passed = passed and accuracy >= champion[1] - rp.max_regression
    short_ok, short_lines = short_clause(params, short)
    return GateDecision(
        passed and short_ok,
        version,
        accuracy,
        champion[0] if champion else None,
        champion[1] if champion else None,
        rp.min_accuracy,
        rp.max_regression,
        short=short_lines,
    )


def production_gate(paths: Paths, params: Params, challenger_hash: str) -> tuple[bool, str]:
    """The gate's production clause: is the challenger no worse than allowed on the window?"""
    limit = params.registry.max_production_regression
    if limit is None:
        return True, "production window not required"
    if not paths.production_window.is_file():
        return True, "no labelled production window yet: production clause skipped"
    path = paths.reports / REPORT
    if not path.is_file():
        return False, f"no {path.name}: run `sentiment compare` before promoting"
    report = json.loads(path.read_text(encoding="utf-8"))
    if report.get("challenger", {}).get("content_hash") != challenger_hash:
        return False, f"{path.name} compares another challenger: run `sentiment compare` again"
    result = report.get("sets", {}).get(PRODUCTION)
    if result is None:
        return False, f"{path.name} has no production window"
    diff = float(result["difference"])
    ok = diff >= -limit and not math.isnan(diff)
    verdict = "no worse than allowed" if ok else f"worse by more than {limit:g}"
    return ok, f"production window: challenger {diff:+.4f} against the champion ({verdict})"
