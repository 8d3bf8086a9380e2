"""The layout a newcomer reads (ARCHITECTURE.md): modules named by their role, so no import renames
one; read from the import statements themselves (ast), without importing anything."""
from __future__ import annotations

import ast
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


def test_no_import_renames_a_module_or_a_name():
    # `from storage import kpi as store`, `from rules import kpi as K`: two modules with one name, or a name
    # too vague to read where it is used. A module's name says its role (storage/kpi_queries.py), so it
    # is imported as it is called.
    found = [f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name} as {alias.asname}"
             for package in PACKAGES for path in modules(package).values()
             for node in imports(path) for alias in node.names if alias.asname]
    assert found == []
