"""Memory accounting for the serving benchmark: RSS and PSS per process and per process tree, from
``/proc`` (PSS shares copy-on-write pages fairly among the processes that map them)."""

from __future__ import annotations

import re
from pathlib import Path

import psutil

from sentiment_mlops.processes import Supervised


def _kb(path: str, field: str) -> float:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path(path).read_text(), re.M)
    return int(match[1]) / 1024 if match else float("nan")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and PSS of one process, in MB."""
    return {
        "rss_mb": round(_kb(f"/proc/{pid}/status", "VmRSS"), 1),
        "pss_mb": round(_kb(f"/proc/{pid}/smaps_rollup", "Pss"), 1),
    }


def _tree(server: Supervised) -> list[psutil.Process]:
    """The server's process and all its descendants."""
    if server.proc is None:
        return []
    try:
        root = psutil.Process(server.proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_memory_mb(server: Supervised) -> dict[str, float]:
    """Total RSS and PSS of a server's whole process tree (PSS adds up; RSS double-counts sharing)."""
    total = {"rss_mb": 0.0, "pss_mb": 0.0}
    for proc in _tree(server):
        try:
            for k, v in memory_mb(proc.pid).items():
                total[k] += v
        except (FileNotFoundError, ProcessLookupError):
            continue
    return {k: round(v, 1) for k, v in total.items()}


def master_and_workers_mb(server: Supervised) -> tuple[dict[str, float], list[dict[str, float]]]:
    """RSS and PSS of a gunicorn master and of each of its live workers."""
    assert server.proc is not None
    master = psutil.Process(server.proc.pid)
    workers = [p for p in master.children() if p.status() != psutil.STATUS_ZOMBIE]
    return memory_mb(master.pid), [memory_mb(p.pid) for p in workers]
