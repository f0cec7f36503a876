"""dvc.yaml lists every module a stage runs, derived from the imports of the command it calls.

A stage whose code changed but is not a dependency is not rerun by `dvc repro`: the model and the
metrics then silently stop matching the code. Each stage's command (``sentiment <name>``) is looked
up in the CLI, and the package modules it imports are followed transitively (imports inside
functions included, ``TYPE_CHECKING`` blocks excluded). A module that loads compiled code brings
in that code's source too (the scoring kernels' C extension).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import runpy
import shlex
import textwrap
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
import setuptools
import yaml

from sentiment_mlops.cli import app
from tests.conftest import REPO_ROOT

SRC = REPO_ROOT / "src"
PACKAGE = "sentiment_mlops"
# Reached by the stages only to record the run in MLflow: a side record, not an input of their
# outputs (changing how a run is logged must not retrain the model).
SIDE_RECORDS = {f"{PACKAGE}.registry", f"{PACKAGE}.registry.tracking", f"{PACKAGE}.registry.pyfunc"}
KERNELS = Path("src/sentiment_mlops/model/_kernels.c")


def included(source: Path) -> list[Path]:
    """``source`` and every header of its folder it includes, directly or through another header."""
    found: list[Path] = []
    todo = [source]
    while todo:
        path = todo.pop()
        if path not in found:
            found.append(path)
            text = (REPO_ROOT / path).read_text()
            todo += [source.parent / name for name in re.findall(r'^#include "([^"]+)"', text, re.M)]
    return sorted(found)


# Modules that load a compiled extension, and the sources it is built from (setup.py).
COMPILED_SOURCES = {f"{PACKAGE}.model.kernels": included(KERNELS)}


def module_file(module: str) -> Path | None:
    path = SRC.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def imports(tree: ast.AST, module: str) -> set[str]:
    """Package modules imported anywhere in ``tree`` (not under ``if TYPE_CHECKING:``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                is_package = module_file(module) is not None and module_file(module).name == "__init__.py"
                anchor = parts if is_package else parts[:-1]
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] == PACKAGE:
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def closure(start: set[str]) -> set[str]:
    """``start`` and every package module reachable from it by imports, side records excluded."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        module = todo.pop()
        if module in seen or module in SIDE_RECORDS or (path := module_file(module)) is None:
            continue
        seen.add(module)
        todo.extend(imports(ast.parse(path.read_text(encoding="utf-8")), module))
    return seen


def _trivial(path: Path) -> bool:
    """A package ``__init__`` holding only a docstring (or the version string) runs nothing."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(
        (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
        or (isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__version__")
        for n in body
    )


def command_modules(cmd: str) -> set[Path]:
    """The source files a ``sentiment <command> ...`` stage runs."""
    words = shlex.split(cmd)
    assert words[0] == "sentiment", f"stage command {cmd!r} does not call the CLI"
    callbacks = {c.name or c.callback.__name__: c.callback for c in app.registered_commands}
    callback = callbacks[words[1]]
    tree = ast.parse(textwrap.dedent(inspect.getsource(callback)))
    modules = closure(imports(tree, callback.__module__))
    files = {module_file(m) for m in modules}
    compiled = {src for m in modules for src in COMPILED_SOURCES.get(m, [])}
    return {f.relative_to(REPO_ROOT) for f in files if f is not None and not _trivial(f)} | compiled


def covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(d) or Path(d) in path.parents for d in deps)


def missing_deps(stage: dict) -> list[str]:
    deps = [str(d) for d in stage.get("deps", [])]
    found = [
        f"{p} (imported by the command)"
        for p in sorted(command_modules(stage["cmd"]))
        if not covered(p, deps)
    ]
    # A file the command is told to read is an input too.
    words = shlex.split(stage["cmd"])
    for flag, value in itertools.pairwise(words):
        if flag.startswith("--") and "/" in value and not covered(Path(value), deps):
            found.append(f"{value} (read by {flag})")
    return found


def _stages() -> dict[str, dict]:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", list(_stages()))
def test_each_stage_depends_on_every_module_its_command_imports(name: str) -> None:
    assert missing_deps(_stages()[name]) == []


@pytest.mark.parametrize(
    ("name", "removed"),
    [
        # What dvc.yaml missed before this test: the kernels (train, evaluate), the model code
        # (evaluate) and the archive (ingest).
        ("train", "src/sentiment_mlops/model/kernels.py"),
        ("train", "src/sentiment_mlops/model/_kernels.c"),
        ("evaluate", "src/sentiment_mlops/model/_kernels.c"),
        ("evaluate", "src/sentiment_mlops/model/features.py"),
        ("evaluate", "src/sentiment_mlops/model/artifact.py"),
        ("evaluate", "src/sentiment_mlops/model/tokenizer.py"),
        ("ingest", "data/raw/aclImdb_v1.tar.gz"),
    ],
)
def test_a_missing_dependency_is_caught(name: str, removed: str) -> None:
    stage = dict(_stages()[name])
    assert removed in stage["deps"]
    stage["deps"] = [d for d in stage["deps"] if d != removed]
    assert any(p.startswith(removed) for p in missing_deps(stage))


def test_ingest_reads_the_archive_it_depends_on_not_the_environment() -> None:
    # $SENTIMENT_DATA_ARCHIVE is invisible to DVC: the stage names the file on its command line.
    ingest = _stages()["ingest"]
    words = shlex.split(ingest["cmd"])
    assert words[words.index("--source") + 1] in ingest["deps"]


def test_the_compiled_sources_are_what_setup_py_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[setuptools.Extension] = []
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: built.extend(kwargs["ext_modules"]))
    monkeypatch.chdir(REPO_ROOT)
    runpy.run_path("setup.py")
    (extension,) = built
    assert len(included(KERNELS)) > 2  # the parts are found, not only the .c file
    assert sorted(Path(p) for p in [*extension.sources, *extension.depends]) == included(KERNELS)


def test_a_changed_kernel_source_rebuilds_the_extension() -> None:
    """uv (``make setup``) reinstalls, so recompiles, when a source or header the kernels include changes."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    cache_keys = [key["file"] for key in pyproject["tool"]["uv"]["cache-keys"] if "file" in key]
    makefile = (REPO_ROOT / "Makefile").read_text()
    (rule,) = re.findall(r"^\$\(VENV\)/\.installed:(.*)$", makefile, re.M)
    prerequisites = [
        re.sub(r"^\$\(wildcard (.*)\)$", r"\1", word) for word in re.findall(r"\$\([^)]*\)|\S+", rule)
    ]
    for source in included(KERNELS):
        assert any(fnmatch(str(source), key) for key in cache_keys), f"{source}: not in tool.uv cache-keys"
        assert any(fnmatch(str(source), p) for p in prerequisites), f"{source}: not a prerequisite of setup"


def test_fetch_links_the_archive_where_ingest_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    archive = tmp_path / "elsewhere" / "imdb.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"not read by fetch, only linked")
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    monkeypatch.setenv("SENTIMENT_HOME", str(tmp_path))
    monkeypatch.setenv("SENTIMENT_DATA_ARCHIVE", str(archive))
    monkeypatch.delenv("SENTIMENT_DATA_SHA256", raising=False)
    for _ in range(2):  # idempotent: the second run replaces the link
        result = CliRunner().invoke(app, ["fetch"])
        assert result.exit_code == 0, result.output
    dest = tmp_path / _stages()["ingest"]["deps"][0]
    assert dest.resolve() == archive.resolve()
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]
