"""Instructions the scoring kernels execute on a fixed workload, for builds side by side.

Wall-clock figures move with the machine's load; instruction counts (valgrind's callgrind) do not.
For a change that must not alter the compiled code's speed (a refactor of the C sources), pass the
git revisions (or built extension files) before and after it: a revision's extension is built from
its tree as the wheel is (uv build, setup.py's flags). Each runs the same workload in its own
callgrind process, and the table gives each kernel function's instructions and the ratio.

The workload: the first 1,000 reviews of the test split, weights drawn from a fixed seed
(2**20 buckets, 3-grams, a third of them non-zero), through Scorer.score_one, score_texts on one
thread (dense and compact tables) and featurize.

    python bench/kernel_instructions.py BEFORE [AFTER] [--out reports/bench/kernel_instructions.json]
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REVIEWS = 1000
HASH_BITS, NGRAM_MAX = 20, 3


def workload(extension: Path, texts: list[str]) -> float:
    """Score ``texts`` every way the kernels can with ``extension``; returns a checksum."""
    spec = importlib.util.spec_from_file_location("_kernels", extension)
    assert spec is not None and spec.loader is not None
    k = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(k)
    mask = (1 << HASH_BITS) - 1
    rng = np.random.default_rng(7)
    dense = (rng.standard_normal(mask + 1) * (rng.random(mask + 1) < 0.3)).astype(np.float32)
    seen = np.packbits(dense != 0, bitorder="little")
    nonzero = np.flatnonzero(dense).astype(np.uint32)
    slots = np.empty(1 << int(np.ceil(np.log2(2 * len(nonzero)))), np.uint64)
    k.build_table(nonzero.tobytes(), dense[nonzero].tobytes(), slots)
    total, n = 0.0, len(texts)
    for table, is_dense in ((dense, True), (slots, False)):
        scorer = k.Scorer(NGRAM_MAX, mask, table, is_dense, seen, 0.1, True)
        total += sum(scorer.score_one(t)[0] for t in texts)
        out = [np.zeros(n), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)]
        k.score_texts(texts, NGRAM_MAX, mask, table, is_dense, seen, 0.1, *out, 1, True)
        total += float(out[0].sum())
    offsets = np.cumsum([0] + [len(t.encode()) for t in texts]).astype(np.int64)
    k.featurize("".join(texts).encode(), offsets.tobytes(), NGRAM_MAX, mask, False)
    return total


def built(ref: str, scratch: Path) -> Path:
    """``ref`` if it is an extension file, else the extension built from git revision ``ref``."""
    if Path(ref).is_file():
        return Path(ref).resolve()
    tree, dist = scratch / f"tree-{ref}", scratch / f"dist-{ref}"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    build = ["uv", "build", "--quiet", "--wheel", "--python", sys.executable, "--out-dir", str(dist)]
    subprocess.run(build, cwd=tree, check=True)
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        (member,) = [n for n in zf.namelist() if n.startswith("sentiment_mlops/model/_kernels.")]
        return Path(zf.extract(member, scratch / f"ext-{ref}"))


def count(extension: Path, reviews: Path, scratch: Path) -> dict[str, int]:
    """Instructions per function of ``extension`` over the workload (callgrind, self cost)."""
    out = scratch / f"callgrind.{len(list(scratch.iterdir()))}"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__]
    subprocess.run([*cmd, "--workload", str(extension), str(reviews)], check=True, capture_output=True)
    report = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", str(out)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    per_function: collections.Counter[str] = collections.Counter()
    for line in report.splitlines():
        m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+(\S+):(\S+)(?:\s+\[(.*)\])?", line)
        # the kernels' own sources (inlined parts name their header), or code without a source in it
        if m and ("/_kernels" in m.group(2) or m.group(4) == str(extension)):
            per_function[m.group(3)] += int(m.group(1).replace(",", ""))
    return dict(per_function)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="git revisions or built _kernels*.so files: before [after]")
    ap.add_argument("--workload", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.workload:  # inside callgrind: builds = [extension, reviews.json]
        extension, reviews = map(Path, args.builds)
        print(workload(extension, json.loads(reviews.read_text())))
        return
    from sentiment_mlops.config import Paths
    from sentiment_mlops.data.splits import read_split
    from sentiment_mlops.files import atomic_write_json

    texts = read_split(Paths(), "test")["text"].head(REVIEWS).tolist()
    # a revision is recorded as its commit, so that the report says what was measured
    args.builds = [
        ref
        if Path(ref).is_file()
        else subprocess.run(
            ["git", "rev-parse", "--short", ref], check=True, capture_output=True, text=True
        ).stdout.strip()
        for ref in args.builds
    ]
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        extensions = [built(ref, scratch) for ref in args.builds]
        sums = {ref: workload(e, texts) for ref, e in zip(args.builds, extensions, strict=True)}
        assert len(set(sums.values())) == 1, f"the builds score differently: {sums}"
        reviews = scratch / "reviews.json"
        reviews.write_text(json.dumps(texts))
        (scratch / "runs").mkdir()
        counts = [count(e, reviews, scratch / "runs") for e in extensions]
    names = sorted(set().union(*counts), key=lambda f: -max(c.get(f, 0) for c in counts))
    for i, ref in enumerate(args.builds, 1):
        print(f"#{i}: {ref}")
    width = max(len(n) for n in [*names, "function"]) + 2
    print(f"{'function':{width}}" + "".join(f"{f'#{i}':>16}" for i in range(1, len(counts) + 1)) + "   ratio")
    rows = {}
    for name in [*names, "total"]:
        values = [sum(c.values()) if name == "total" else c.get(name, 0) for c in counts]
        ratio = values[-1] / values[0] if values[0] else None  # None: absent from the first build
        rows[name] = {"instructions": values, "ratio": ratio}
        shown = "-" if ratio is None else f"{ratio:.4f}"
        print(f"{name:{width}}" + "".join(f"{v:>16,}" for v in values) + f"   {shown}")
    if args.out:
        report = {"reviews": len(texts), "builds": args.builds, "functions": rows}
        atomic_write_json(args.out, report)


if __name__ == "__main__":
    main()
