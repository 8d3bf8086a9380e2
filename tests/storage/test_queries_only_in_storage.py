"""Every database query is written in storage/: no module outside it imports the models (storage.models),
builds a peewee query or runs SQL. A newcomer looking for what touches a table reads storage/ only.

The source tree is read (ast), nothing imported. Tests and benchmarks build their fixtures with the
models directly and are not scanned. Importing a peewee exception to catch it is allowed (it runs no
query), and so are imports under `if TYPE_CHECKING:` (annotations only).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_SCANNED = {"storage", "tests", "bench", ".venv", ".git", ".ci", "node_modules"}
ALLOWED: dict[str, str] = {}  # "path/to/module.py" -> why it must query the database itself

# calls that build or run a query whatever they are called on
QUERY_CALLS = {"select", "where", "order_by", "group_by", "tuples", "dicts", "namedtuples", "objects",
               "get_or_none", "get_by_id", "get_or_create", "insert_many", "insert_from", "delete_instance",
               "execute", "execute_sql", "bulk_create", "bulk_update", "on_conflict", "prefetch"}
# calls that are a query when made on a model class (a capitalised name: Deal.update(...), Rep.get(...))
MODEL_CALLS = {"create", "update", "insert", "delete", "get", "replace", "replace_many", "raw", "noop"}
ORM_PACKAGES = ("peewee", "playhouse")


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports_models(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name == "storage.models" or a.name.startswith("storage.models.") for a in node.names)
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return node.module == "storage.models" or (node.module == "storage" and
                                                   any(a.name == "models" for a in node.names))
    return False


def _orm_names(node: ast.AST) -> list[str]:
    """Names imported from peewee/playhouse other than exceptions (fn, SQL, MySQLDatabase, Model ...)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] in ORM_PACKAGES]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
            and node.module.split(".")[0] in ORM_PACKAGES:
        return [a.name for a in node.names if not a.name.endswith("Error")]
    return []


def problems_in(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    skip: set[int] = set()  # ids of the nodes under `if TYPE_CHECKING:`
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if _imports_models(node):
            found.append((node.lineno, "imports storage.models"))
        for name in _orm_names(node):
            found.append((node.lineno, f"imports {name} from the ORM"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr, owner = node.func.attr, node.func.value
            if attr in QUERY_CALLS:
                found.append((node.lineno, f".{attr}(...)"))
            elif attr in MODEL_CALLS and isinstance(owner, ast.Name) and owner.id[:1].isupper() \
                    and not owner.id.isupper():  # Deal.get(...), not NAMES.get(...)
                found.append((node.lineno, f"{owner.id}.{attr}(...)"))
            elif attr == "save" and not node.args:  # a model instance's save(); choices.save(a, b) is storage's
                found.append((node.lineno, ".save()"))
    return sorted(found)


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] not in NOT_SCANNED:
            yield rel.as_posix(), path


def test_no_query_outside_storage():
    offenders = []
    for rel, path in modules():
        if rel in ALLOWED:
            continue
        offenders += [f"{rel}:{line}: {what}" for line, what in problems_in(path.read_text(encoding="utf-8"))]
    assert offenders == [], "queries belong in storage/:\n" + "\n".join(offenders)


def test_the_scan_finds_each_kind_of_query():
    """The checker itself: each way a module could reach the database is caught, and the look-alikes
    (a dict's update, a list's insert, a str's join, a storage function named save) are not."""
    caught = problems_in("""
from storage.models import Deal
from storage import models
import peewee
from peewee import fn, IntegrityError
Deal.get_or_none(Deal.id == 1)
Deal.update(amount=1).where(Deal.id == 1).execute()
Customer.create(name="x")
deal.save()
""")
    assert [what for _, what in caught] == [
        "imports storage.models", "imports storage.models", "imports peewee from the ORM",
        "imports fn from the ORM", ".get_or_none(...)", ".execute(...)", ".where(...)", "Deal.update(...)",
        "Customer.create(...)", ".save()"]
    assert problems_in("""
from typing import TYPE_CHECKING
from peewee import IntegrityError
if TYPE_CHECKING:
    from storage.models import Deal
d = {}
d.update(a=1)
[].insert(0, 1)
", ".join(["a"])
choices.save(1, "text", [], None)
wb.save(out)
""") == []
    assert set(dict(modules())) >= {"bot/cli.py", "handlers/router.py", "rules/funnel.py"}
