"""The serving benchmark's report: the table printed at the end of a run."""

from __future__ import annotations

from typing import Any


def print_table(r: dict[str, Any]) -> None:
    rows = [
        (
            "single review, requests/s",
            f"{r['rps']:,.0f}",
            f"{r['mlflow_rps']:,.0f}",
            f"{r['ratio_vs_mlflow']:.1f}x (target >= 8x)",
        ),
        ("single review, p50 ms", f"{r['p50_ms']:.2f}", f"{r['mlflow_p50_ms']:.2f}", ""),
        ("single review, p99 ms", f"{r['p99_ms']:.2f}", f"{r['mlflow_p99_ms']:.2f}", "lower is better"),
        (
            "with the prediction log, req/s",
            f"{r['rps_prediction_log']:,.0f}",
            "",
            f"{100 * r['prediction_log_throughput_ratio']:.0f}% of without (target >= 90%)",
        ),
        (
            "with the prediction log, p99 ms",
            f"{r['p99_ms_prediction_log']:.2f}",
            "",
            f"{r['prediction_log_p99_delta_ms']:+.2f} ms (target <= +1), "
            f"dropped {r['prediction_log_dropped']}",
        ),
        (
            "with a shadow model, req/s",
            f"{r['rps_shadow']:,.0f}" if r["rps_shadow"] is not None else "n/a",
            "",
            f"{100 * r['shadow_throughput_ratio']:.0f}% of without (target >= 85%)"
            if r["rps_shadow"] is not None
            else r["shadow_note"],
        ),
        (f"batch of {r['batch_size']}, reviews/s", f"{r['batch_reviews_per_s']:,}", "", "target >= 15,000"),
        (
            "RSS per worker, MB",
            f"{r['rss_mb_per_worker']:.0f}",
            "",
            f"PSS {r['pss_mb_per_worker']:.0f} (target RSS <= 200)",
        ),
        (
            "all processes, PSS MB",
            f"{r['server_memory_mb']['after_load']['ours']['pss_mb']:.0f}",
            f"{r['server_memory_mb']['after_load']['mlflow']['pss_mb']:.0f}",
            "after the load",
        ),
        (
            "start to ready, s",
            f"{r['start_to_ready_s']:.2f}",
            f"{r['mlflow_start_to_ready_s']:.2f}",
            "target <= 3 (median of runs)",
        ),
    ]
    if r["bare_flask_rps"]:
        rows.insert(
            1,
            (
                "  bare Flask (no work), req/s",
                f"{r['bare_flask_rps']:,.0f}",
                "",
                f"ours is {100 * r['share_of_bare_flask']:.0f}% of this ceiling",
            ),
        )
    print(f"\n{'':30} {'ours':>10} {'mlflow':>10}  ")
    for name, a, b, c in rows:
        print(f"{name:30} {a:>10} {b:>10}  {c}")
    print(f"\nload average: {r['loadavg_start']} at start, {r['loadavg_end']} at end ({r['cpus']} CPUs)")
    print(r["note"])
