"""Compile the scoring kernels ahead of time into ``sentiment_mlops/_kernels_aot_<hash>*.so``.

The container image runs this in its build stage, then installs the extension without numba and
LLVM (about 190 MB of the image, and 130 MB of RSS per process, otherwise). ``make setup`` builds
it into the source tree too. The extension holds the very functions of
:mod:`sentiment_mlops.model.kernels`, compiled by numba's AOT compiler with fixed signatures; the tests
check that both give identical results. Its name carries a hash of ``kernels.py`` and of the
package modules it imports (the tokenizer's constants are compiled in), so a build left over from
older code is never loaded.

    python -m sentiment_mlops.model.kernels_aot OUTPUT_DIR
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from pathlib import Path

# kernels.py and the package modules it imports: numba compiles their constants into the
# extension (tests/unit/test_dvc_graph.py checks this list against kernels.py's imports).
KERNEL_SOURCES = tuple(Path(__file__).with_name(name) for name in ("kernels.py", "tokenizer.py"))

# Signatures of the exported kernels (numba type strings); they match the arrays features.py passes.
SIGNATURES = {
    "score": "Tuple((f8[:], i8[:], i8[:], i8[:]))(u1[:], i8[:], i8, u8, f4[:], f8, u1[:])",
    "token_hashes": "u8[:](u1[:], i8, i8)",
}


def module_name() -> str:
    """The extension's module name for the current kernels source."""
    digest = hashlib.sha256()
    for source in KERNEL_SOURCES:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return f"_kernels_aot_{digest.hexdigest()[:12]}"


def build(output_dir: Path) -> Path:
    """Compile the extension into ``output_dir``; return the path of the shared library."""
    from numba.core.errors import NumbaPendingDeprecationWarning
    from numba.pycc import CC

    from sentiment_mlops.model import kernels

    output_dir.mkdir(parents=True, exist_ok=True)
    name = module_name()
    cc = CC(name)
    cc.output_dir = str(output_dir)
    cc.verbose = False
    for kernel, signature in SIGNATURES.items():
        cc.export(kernel, signature)(getattr(kernels, kernel).py_func)
    with warnings.catch_warnings():
        # numba.pycc is deprecated without a replacement yet; it still builds correct code.
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        cc.compile()
    built = sorted(output_dir.glob(f"{name}*.so"))
    if not built:
        raise RuntimeError(f"numba.pycc produced no {name} extension in {output_dir}")
    return built[-1]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python -m sentiment_mlops.model.kernels_aot OUTPUT_DIR  (got {sys.argv[1:]})")
    print(build(Path(sys.argv[1])))
