"""Load generation for the serving benchmark: wrk with a Lua script that posts request bodies in
rotation, and the parsing of its ``--latency`` output into requests/s and percentiles."""

from __future__ import annotations

import json
import re
import shlex
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_error import BenchError

LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_post.lua"


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    command: str

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "command"}

    @classmethod
    def median(cls, runs: list[WrkResult]) -> WrkResult:
        """Field by field median of rounds (rounds interleave the servers, so both see the same
        swings of the machine's load)."""
        fields = {
            k: statistics.median(getattr(r, k) for r in runs)
            for k in ("rps", "p50_ms", "p75_ms", "p90_ms", "p99_ms")
        }
        return cls(
            **fields,
            requests=sum(r.requests for r in runs),
            non_2xx=sum(r.non_2xx for r in runs),
            socket_errors=sum(r.socket_errors for r in runs),
            command=runs[0].command,
        )


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT_MS[unit]


def parse_wrk(output: str, command: str) -> WrkResult:
    """Requests/s, latency percentiles, errors from wrk's ``--latency`` output."""
    pct = {int(p): _ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+([\d.]+[a-z]+)\s*$", output, re.M)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None or not {50, 75, 90, 99} <= pct.keys():
        raise BenchError(f"cannot parse wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        rps=float(rps[1]),
        p50_ms=pct[50],
        p75_ms=pct[75],
        p90_ms=pct[90],
        p99_ms=pct[99],
        requests=int(total[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(x) for x in sock.groups()) if sock else 0,
        command=command,
    )


def wrk_argv(wrk: str, url: str, bodies: Path, threads: int, connections: int, seconds: int) -> list[str]:
    """wrk posting ``bodies`` (one JSON body a line) in rotation to ``url``, with ``--latency``."""
    return [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(bodies),
    ]


def run_wrk(wrk: str, url: str, bodies: Path, threads: int, connections: int, seconds: int) -> WrkResult:
    argv = wrk_argv(wrk, url, bodies, threads, connections, seconds)
    out = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    result = parse_wrk(out.stdout, shlex.join(argv))
    if result.non_2xx or result.socket_errors:
        raise BenchError(
            f"{url}: {result.non_2xx} non-2xx responses, {result.socket_errors} socket errors:\n{out.stdout}"
        )
    return result


def write_bodies(path: Path, bodies: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(b) + "\n" for b in bodies))  # json.dumps escapes newlines
    return path
