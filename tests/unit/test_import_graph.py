"""The package's import graph has no circles, and no module is over 450 lines.

The graph is read with the standard library's ``ast`` from the source files, so it
sees every import, also those that never run in a given process: module-level ones,
function-local ones (lazy imports are still a dependency of the module) and those under
``if TYPE_CHECKING:`` (a type named from a higher module ties the two as surely as a
call does, and would become a circle the day the annotation is evaluated). Importing
``a.b.c`` draws an arrow to ``a.b.c`` only, not to the packages above it: Python
initialises those first, so they cannot close a circle through it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "pytest_llmselect"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
MAX_LINES = 450


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """``module -> the modules of the package it imports`` (every import statement in its source)."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the module's own package, up level - 1 more
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                # ``from pkg import sub`` names the submodule when there is one.
                targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in files else module
                           for alias in node.names]
            for target in targets:
                while target and target not in files and "." in target:
                    target = target.rsplit(".", 1)[0]  # ``import a.b.X`` where X is not a module
                if target in files and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (as a closed path) per strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_closed_path(graph, set(group), group[0]) for group in groups]


def _closed_path(graph: dict[str, set[str]], group: set[str], start: str) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    came: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(came[path[-1]])
                    return [*reversed(path), start]
                if w not in came:
                    came[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{start} is in a strongly connected group but on no circle")


def test_the_package_has_no_import_circles() -> None:
    found = cycles(import_graph(ROOT))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in ROOT.rglob("*.py")}
    over = {path: n for path, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: " + ", ".join(f"{p} ({n})" for p, n in over.items())


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_circle_through_a_function_local_and_a_type_checking_import_is_found(tmp_path: Path) -> None:
    root = _write(tmp_path / "pkg", {
        "__init__.py": "",
        "a.py": "def f():\n    from pkg.b import g\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import c\n",
        "sub/__init__.py": "",
        "sub/c.py": "from ..a import f\n",
    })
    assert cycles(import_graph(root)) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]


def test_parent_packages_and_outside_modules_draw_no_arrow(tmp_path: Path) -> None:
    root = _write(tmp_path / "pkg", {
        "__init__.py": "from pkg.a import f\nimport os\n",
        "a.py": "import pkg.b\nfrom pkg import b\nimport pytest\n",
        "b.py": "X = 1\n",
    })
    graph = import_graph(root)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set()}
    assert cycles(graph) == []


@pytest.mark.parametrize("relative", ["from . import b", "from .b import X", "import pkg.b.X"])
def test_each_form_of_import_draws_its_arrow(tmp_path: Path, relative: str) -> None:
    root = _write(tmp_path / "pkg", {"__init__.py": "", "a.py": relative + "\n", "b.py": "X = 1\nfrom pkg import a\n"})
    assert cycles(import_graph(root)) == [["pkg.a", "pkg.b", "pkg.a"]]
