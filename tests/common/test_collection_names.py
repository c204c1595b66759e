"""Collection names are spelled only in ``zoomsymbl_common.records``: every other module imports them.

The check reads the source with ``ast`` and looks where a collection name can act as one: a subscript
of a database (``db["jobs"]``), a collection call (``get_collection("jobs")``) and a module-level
constant (``JOBS = "jobs"``). The same word elsewhere (a log message, a JSON key) is not a name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from zoomsymbl_common.records import COLLECTIONS

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "libs" / "common" / "src" / "zoomsymbl_common" / "records"
_COLLECTION_CALLS = frozenset({"get_collection", "create_collection", "drop_collection"})


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in COLLECTIONS:
        return node.value
    return None


def _is_database(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in {"db", "database"}) or (
        isinstance(node, ast.Name) and node.id in {"db", "database"}
    )


def collection_literals(source: str) -> list[tuple[int, str]]:
    """(line, name) of every collection name used as one in ``source``."""
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_database(node.value) and (name := _literal(node.slice)):
            found.append((node.lineno, name))
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in _COLLECTION_CALLS and node.args and (name := _literal(node.args[0])):
                found.append((node.lineno, name))
    for statement in tree.body:
        value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
        if name := _literal(value):
            found.append((statement.lineno, name))
    return found


def _modules() -> list[Path]:
    paths = [*(ROOT / "libs").glob("*/src/**/*.py"), *(ROOT / "services").glob("*/src/**/*.py")]
    return sorted(p for p in paths if RECORDS not in p.parents)


def test_the_finder_sees_every_way_a_name_is_used_and_nothing_else() -> None:
    source = """
JOBS = "jobs"
log.info("jobs", extra={"meetings": 1})
doc["insights"]
mongo.db["emails"].find_one({})
db["receipts"]
client.get_collection("limiter")
"""
    assert sorted(collection_literals(source)) == [(2, "jobs"), (5, "emails"), (6, "receipts"), (7, "limiter")]


def test_no_module_outside_records_spells_a_collection_name() -> None:
    assert len(_modules()) > 50, "the scan found the sources"
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {name!r}"
        for path in _modules()
        for line, name in collection_literals(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "import the name from zoomsymbl_common.records instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize("name", sorted(COLLECTIONS))
def test_each_name_is_defined_once_in_records(name: str) -> None:
    definitions = [
        path
        for path in RECORDS.glob("*.py")
        for _, found in collection_literals(path.read_text(encoding="utf-8"))
        if found == name
    ]
    assert len(definitions) == 1, definitions
