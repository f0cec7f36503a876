"""The package imports in one direction: no two modules import each other, directly or through others.

Every import counts, those inside functions too (a lazy import that closes a loop is still a loop,
only hidden); imports under ``if TYPE_CHECKING:`` do not run and do not count. Importing a module
counts as importing the packages above it (their ``__init__`` runs first).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

SRC = REPO_ROOT / "src"
PACKAGE = "sentiment_mlops"


def _module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported(path: Path, modules: set[str], src: Path = SRC) -> set[str]:
    """The package modules ``path`` imports anywhere but under ``if TYPE_CHECKING:``."""
    name = _module_name(path, src)
    found: set[str] = set()

    def resolve(base: str, level: int) -> str:
        if not level:
            return base
        anchor = name.split(".") if _is_package(path) else name.split(".")[:-1]
        anchor = anchor[: len(anchor) - level + 1]
        return ".".join([*anchor, base] if base else anchor)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.module or "", node.level)
            found.add(base)
            # `from package import module` imports the module; `from module import name` does not.
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    # Importing a module runs the packages above it first.
    found |= {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return {m for m in found if m in modules and m != name}


def graph(src: Path = SRC) -> dict[str, set[str]]:
    """Each package module under ``src`` and the package modules it imports."""
    files = {_module_name(p, src): p for p in (src / PACKAGE).rglob("*.py")}
    return {name: imported(path, set(files), src) for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan's algorithm), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return sorted(found)


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    # The check's own check: a loop closed only by an import inside a function is caught.
    lower = "from sentiment_mlops.b import helper\n"
    upper = "def helper():\n    from sentiment_mlops import a\n    return a\n"
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sentiment_mlops import a\n"
    package = tmp_path / PACKAGE
    package.mkdir()
    for name, text in {"__init__.py": "", "a.py": lower, "b.py": upper, "c.py": guarded}.items():
        (package / name).write_text(text, encoding="utf-8")
    edges = graph(tmp_path)
    assert edges == {
        PACKAGE: set(),
        f"{PACKAGE}.a": {PACKAGE, f"{PACKAGE}.b"},
        f"{PACKAGE}.b": {PACKAGE, f"{PACKAGE}.a"},
        f"{PACKAGE}.c": set(),
    }
    assert cycles(edges) == [[f"{PACKAGE}.a", f"{PACKAGE}.b"]]
