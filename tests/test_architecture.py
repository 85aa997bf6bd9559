"""The one-way dependencies of DESIGN.md, checked on the source."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def imported_modules(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                # `from runner import compare` imports runner.compare, not just runner.
                found.update(f"{node.module}.{alias.name}" for alias in node.names
                             if _is_module(f"{node.module}.{alias.name}"))
    return found


def test_server_uses_only_the_wire_schemas_and_the_claim_language_of_runner():
    used = {m for m in imported_modules("server") if m == "runner" or m.startswith("runner.")}
    assert used <= {"runner", "runner.spec", "runner.claims"}, used
    assert not {m for m in imported_modules("server") if m.startswith("phenomena")}


def test_phenomena_never_import_the_server():
    assert not {m for m in imported_modules("phenomena") if m.split(".")[0] == "server"}


def test_runner_reaches_into_server_only_for_the_server_side_commands():
    # `tycho serve`, `tycho db` and `tycho user` import these lazily, when they run.
    runner_uses = {m for m in imported_modules("runner") if m.split(".")[0] == "server"}
    assert runner_uses <= {"server.settings", "server.serve", "server.db", "server.users.accounts"}


def test_phenomena_import_only_torch_numpy_and_the_recorder():
    allowed_roots = {"torch", "numpy", "math", "dataclasses", "typing", "__future__",
                     "collections", "functools", "itertools", "importlib", "types", "phenomena",
                     "enum"}
    for module in imported_modules("phenomena"):
        root = module.split(".")[0]
        assert root in allowed_roots or module in {"runner.recorder", "runner.spec"}, module


def test_a_laptop_rerun_loads_no_database_or_web_framework():
    code = ("import sys, runner.cli, runner.client, runner.worker, runner.execute, "
            "runner.reproduce, runner.local; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'server', 'fastapi', 'sqlmodel', 'sqlalchemy', 'alembic', 'uvicorn'}); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
