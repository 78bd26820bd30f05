"""The layout's import graph, read off the source: no two modules of the application import each
other at module level, so every module can be imported on its own and the packages stack in one
direction. An import inside a function is how a circle is usually hidden, so the feed's modules,
whose circle (media, posts, reading, and concerns through their photos) was broken by moving what
they share, must not import services that way either."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "workers")


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The application modules an import statement names (a `from package import module` names
    the module; `from module import name` the module)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        here = here[: len(here) - node.level + 1]
        base = ".".join([*here, base] if base else here)
    found = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in known:
            found.add(f"{base}.{alias.name}")
        elif base in known:
            found.add(base)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Each module's imports of the application's modules: those at module level (run on import;
    `if TYPE_CHECKING:` blocks are not) and those inside functions."""
    files = {_module_name(p, root): p for package in packages for p in sorted((root / package).rglob("*.py"))}
    known = set(files)
    top: dict[str, set[str]] = {}
    inner: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        statements = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        top[module] = set().union(*(_imported(n, module, is_package, known) for n in statements)) - {module}
        nested = [
            n
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(f)
            if isinstance(n, ast.Import | ast.ImportFrom)
        ]
        inner[module] = set().union(*(_imported(n, module, is_package, known) for n in nested)) - {module}
    return top, inner


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_at_module_level() -> None:
    top, _ = import_graph(ROOT, PACKAGES)
    assert "api.services.feed.posts" in top and "api.services.feed.media" in top["api.services.feed.posts"]
    assert cycles(top) == []


def test_feed_concern_and_library_modules_import_no_services_inside_functions() -> None:
    """The modules whose circle was broken (feed media, posts, reading; the concern's checks) and
    the library split along its seams stay free of the imports inside functions that hid it."""
    _, inner = import_graph(ROOT, PACKAGES)
    hidden = {
        module: sorted(m for m in imports if m.startswith("api.services."))
        for module, imports in inner.items()
        if module.startswith(("api.services.feed.", "api.services.governance.concern", "api.services.library."))
    }
    assert {module: found for module, found in hidden.items() if found} == {}


def test_the_check_finds_a_circle(tmp_path: Path) -> None:
    """The check itself: a package whose modules import each other in a ring, one of them from a
    package's `__init__` by a relative import, is reported as one group; a typing-only import is not."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("from .. import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    (package / "d.py").write_text(typing_only + "\ndef f():\n    from pkg import a\n")
    (package / "e.py").write_text("from pkg.a import something\n")
    top, inner = import_graph(tmp_path, ("pkg",))
    assert cycles(top) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    assert top["pkg.d"] == set() and inner["pkg.d"] == {"pkg.a"}
    assert top["pkg.e"] == {"pkg.a"}
