"""The layout a newcomer reads (ARCHITECTURE.md): handlers/ without an import cycle and without bot/,
modules named by their role so no import renames one. Read from the import statements themselves (ast),
including the ones inside functions."""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "rules", "storage")


def modules(package: str) -> dict[str, Path]:
    """Every module of a package by dotted name (a package by its own name, not `x.__init__`)."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path) -> list[ast.Import | ast.ImportFrom]:
    return [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, (ast.Import, ast.ImportFrom))]


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules module `name` imports, by dotted name: `from .x import y` is module x.y when that is
    a module, else module x."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in imports(path):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
        out |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return out


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a -> b -> ... -> a), or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_every_handlers_module_imports_and_none_is_in_a_cycle():
    known = modules("handlers")
    for name in known:
        importlib.import_module(name)
    graph = {name: {m for m in imported(name, path, known) if m in known and m != name}
             for name, path in known.items()}
    assert "handlers.router" in graph and "handlers.choices" in graph["handlers"]  # the graph is read
    assert cycle_in(graph) is None
    # the dispatcher imports no handler module: each registers itself (handlers/__init__.py HANDLERS)
    handler_modules = {f"handlers.{m.__name__.rsplit('.', 1)[1]}" for m in importlib.import_module("handlers").HANDLERS}
    assert graph["handlers.router"] & handler_modules == set()


def test_cycle_in_finds_a_cycle():
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_handlers_never_import_bot():
    known = modules("handlers")
    direct = sorted(f"{name} imports {m}" for name, path in known.items() for m in imported(name, path, known)
                    if m == "bot" or m.startswith("bot."))
    assert direct == []
    # nor through storage/ or rules/: a fresh interpreter importing every handlers module loads no bot module
    code = f"import importlib, sys; [importlib.import_module(m) for m in {sorted(known)!r}]; " \
           "print(sorted(m for m in sys.modules if m == 'bot' or m.startswith('bot.')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_import_renames_a_module_or_a_name():
    # `from storage import kpi as store`, `from rules import kpi as K`: two modules with one name, or a name
    # too vague to read where it is used. A module's name says its role (storage/kpi_queries.py), so it
    # is imported as it is called.
    found = [f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name} as {alias.asname}"
             for package in PACKAGES for path in modules(package).values()
             for node in imports(path) for alias in node.names if alias.asname]
    assert found == []
