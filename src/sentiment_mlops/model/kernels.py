"""Which scoring kernels run, found once per process: the compiled C extension, or the reference.

``SENTIMENT_KERNELS`` chooses: ``compiled`` (the default) loads ``sentiment_mlops.model._kernels``,
the extension built into the wheel (``_kernels.c``), and fails with a message naming the fix if it
is missing; ``python`` runs the pure-Python reference (:mod:`sentiment_mlops.model.tokenizer`),
hundreds of times slower, only when asked for. Nothing falls back silently: the choice is logged
once and :func:`info` reports it (the service shows it in ``/version``).

An MLflow pyfunc logs the package's source as code, without the compiled extension, and puts that
copy first on ``sys.path``. The loader then uses the extension of the installed package, and says
so in the log.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

ABI = 3  # the extension's KERNELS_ABI this code calls with
MODULE = "sentiment_mlops.model._kernels"
CHOICES = ("compiled", "python")


class KernelsError(ImportError):
    """The requested kernels cannot be loaded."""


@dataclass(frozen=True)
class KernelInfo:
    """What scores in this process: shown in ``/version`` and logged at start."""

    implementation: str  # "compiled" or "python"
    module: str  # the extension's file, or the reference module
    cpu_baseline: str  # the micro-architecture level the extension was built for
    threads: int  # threads one batch may use

    def to_dict(self) -> dict[str, str | int]:
        return {
            "implementation": self.implementation,
            "module": self.module,
            "cpu_baseline": self.cpu_baseline,
            "threads": self.threads,
        }


def threads() -> int:
    """Threads one large batch is spread over: ``SENTIMENT_KERNEL_THREADS``, else the usable CPUs."""
    raw = os.environ.get("SENTIMENT_KERNEL_THREADS", "")
    if raw.strip():
        try:
            value = int(raw)
        except ValueError:
            raise KernelsError(f"SENTIMENT_KERNEL_THREADS must be an integer, got {raw!r}") from None
        if not 1 <= value <= 64:
            raise KernelsError(f"SENTIMENT_KERNEL_THREADS must be within 1..64, got {value}")
        return value
    return max(1, min(64, len(os.sched_getaffinity(0))))


def _candidates() -> list[Path]:
    """Where an installed copy of the extension may be, besides this package's own folder."""
    names = [f"_kernels{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    folders = [Path(entry or ".") / "sentiment_mlops" / "model" for entry in sys.path]
    try:
        dist = metadata.distribution("sentiment-mlops")
        folders.extend(
            Path(str(dist.locate_file(f))).parent for f in dist.files or [] if "_kernels" in f.name
        )
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        if direct.get("dir_info", {}).get("editable") and direct.get("url", "").startswith("file://"):
            folders.append(Path(direct["url"].removeprefix("file://")) / "src" / "sentiment_mlops" / "model")
    except (metadata.PackageNotFoundError, ValueError):
        pass
    own = Path(__file__).resolve().parent
    found: list[Path] = []
    for folder in folders:
        for name in names:
            path = folder / name
            if path.is_file() and path.resolve().parent != own and path not in found:
                found.append(path)
    return found


def _load_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(MODULE, path)
    if spec is None or spec.loader is None:
        raise KernelsError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[MODULE] = module
    return module


def _compiled() -> ModuleType:
    try:
        module = importlib.import_module(MODULE)
    except ImportError as exc:
        if "lacks" in str(exc):  # built for a newer CPU than this one: another copy will not help
            raise KernelsError(str(exc)) from exc
        for path in _candidates():
            try:
                module = _load_file(path)
            except ImportError as other:
                log.warning("scoring kernels at %s do not load: %s", path, other)
                continue
            log.warning(
                "this copy of sentiment_mlops has no compiled kernels (%s); using the installed ones at %s",
                exc,
                path,
            )
            break
        else:
            raise KernelsError(
                f"the compiled scoring kernels ({MODULE}) are not installed: {exc}. Install the "
                "sentiment-mlops wheel (or run `make setup`), or set SENTIMENT_KERNELS=python to "
                "score with the slow pure-Python reference"
            ) from exc
    if getattr(module, "ABI", None) != ABI:
        raise KernelsError(
            f"{module.__file__} has kernel ABI {getattr(module, 'ABI', None)}, this code needs {ABI}: "
            "reinstall the package"
        )
    return module


@functools.cache
def load() -> tuple[ModuleType | None, KernelInfo]:
    """The compiled module (``None`` for the reference) and what it is; logged once per process."""
    choice = os.environ.get("SENTIMENT_KERNELS", "compiled").strip() or "compiled"
    if choice not in CHOICES:
        raise KernelsError(f"SENTIMENT_KERNELS must be one of {', '.join(CHOICES)}, got {choice!r}")
    if choice == "python":
        info = KernelInfo("python", "sentiment_mlops.model.tokenizer", "none", 1)
        log.warning("scoring with the pure-Python reference kernels (SENTIMENT_KERNELS=python): slow")
        return None, info
    module = _compiled()
    info = KernelInfo("compiled", str(module.__file__), str(module.BASELINE), threads())
    log.info(
        "scoring kernels: compiled C extension %s (%s), up to %d threads per batch",
        info.module,
        info.cpu_baseline,
        info.threads,
    )
    return module, info


def info() -> KernelInfo:
    """What scores in this process (loads the kernels if nothing has yet)."""
    return load()[1]
