"""What ``sentiment loop`` writes: the summary, live and estimated accuracy per window (CSV) and
their plot, before and after the promotion."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sentiment_mlops.files import atomic_write_json, atomic_write_text
from sentiment_mlops.workspace.replay import Window


def write_report(out: Path, summary: dict[str, Any], windows: list[Window]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ["window,phase,reviews,labelled,live,estimated,prometheus_live_5m,prometheus_estimated_5m"]
    for i, w in enumerate(windows):
        rows.append(
            f"{i},{w.phase},{w.reviews},{w.labelled},{w.live:.4f},{w.estimated:.4f},"
            f"{w.prometheus_live if w.prometheus_live is not None else ''},"
            f"{w.prometheus_estimated if w.prometheus_estimated is not None else ''}"
        )
    atomic_write_text(out / "accuracy.csv", "\n".join(rows) + "\n")
    atomic_write_json(out / "summary.json", summary)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    xs = list(range(len(windows)))
    ax.plot(xs, [w.live for w in windows], marker="o", label="live accuracy (labelled reviews)")
    ax.plot(xs, [w.estimated for w in windows], marker="s", label="estimated accuracy (mean max(p, 1-p))")
    ax.axhline(
        summary["champion"]["validation_accuracy"], color="grey", ls=":", label="champion validation accuracy"
    )
    switch = next((i for i, w in enumerate(windows) if w.phase == "challenger"), None)
    if switch is not None:
        ax.axvline(switch - 0.5, color="black", ls="--", label="challenger promoted and reloaded")
    ax.set_xlabel(f"replay window ({windows[0].reviews if windows else 0} reviews each)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.5, 1.0)
    ax.set_title("Nuanced (4/7-star) reviews of unseen movies: before and after retraining on feedback")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with_tmp = out / ".accuracy.png.tmp.png"
    fig.savefig(with_tmp, dpi=110)
    plt.close(fig)
    with_tmp.replace(out / "accuracy.png")
    if math.isnan(summary["live_accuracy_after"]):
        raise RuntimeError("no labelled review after the promotion")
