"""The dependency rules of docs/design.md ("Dependencies"), checked on the source.

    phenomena  ->  runner.recorder, runner.spec (and torch, numpy, the standard library)
    server     ->  runner.spec, runner.claims, runner.sweep_verdict (server/cli.py also
                   runner.cli_common)
    runner     ->  nothing of server
    tycho      ->  anything: it puts the parts together

Within server, routers (`router = APIRouter(...)`: the domains' api.py and
pages.py, feeds, static) import services and never each other, and services
never import a router; only app.py, which composes them, imports routers.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The one place server reaches into runner beyond the wire schemas and the claim
# language: the operator's commands share the CLI's look (consoles, `fail`, the
# app's settings) with the runner's commands, so that `tycho` is one command.
SERVER_CLI_MAY_IMPORT = {"runner.cli_common"}
# What composes the server's routers into the app.
COMPOSITION = {"server.app"}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from server.users import api` imports server.users.api, not just the package.
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if _is_module(f"{node.module}.{alias.name}"))
    return found


def modules(package: str) -> dict[str, set[str]]:
    """module name -> the modules it imports, for every module of `package`."""
    return {_module_name(path): _imports(ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted((ROOT / package).rglob("*.py"))}


def imported_modules(package: str) -> set[str]:
    return set().union(*modules(package).values())


def _defines_router(path: Path) -> bool:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "APIRouter"
                and any(getattr(t, "id", None) == "router" for t in node.targets)):
            return True
    return False


def routers() -> set[str]:
    return {_module_name(p) for p in (ROOT / "server").rglob("*.py") if _defines_router(p)}


def test_runner_imports_nothing_of_the_server_or_of_tycho():
    used = {m for m in imported_modules("runner") if m.split(".")[0] in {"server", "tycho"}}
    assert not used, used


def test_phenomena_import_only_torch_numpy_and_the_recorder():
    allowed_roots = {"torch", "numpy", "math", "dataclasses", "typing", "__future__",
                     "collections", "functools", "itertools", "importlib", "types", "phenomena",
                     "enum"}
    for module in imported_modules("phenomena"):
        root = module.split(".")[0]
        assert root in allowed_roots or module in {"runner.recorder", "runner.spec"}, module


def test_server_uses_only_the_wire_schemas_and_the_claim_language_of_runner():
    for module, imports in modules("server").items():
        # runner.sweep_verdict: a sweep's measures and verdict, the claim language's
        # use on a sweep; the registry judges a sweep that several workers re-ran.
        allowed = {"runner", "runner.spec", "runner.claims", "runner.sweep_verdict"}
        if module == "server.cli":
            allowed |= SERVER_CLI_MAY_IMPORT
        used = {m for m in imports if m.split(".")[0] == "runner"}
        assert used <= allowed, (module, used - allowed)
        assert not {m for m in imports if m.split(".")[0] in {"phenomena", "tycho"}}, module


def test_routers_and_pages_import_services_never_each_other():
    found = routers()
    # The domains' routers, the feeds and the static assets; nothing hides one elsewhere.
    assert {"server.observations.api", "server.observations.pages", "server.community.feeds",
            "server.web.static"} <= found
    for module in found:
        assert module.rsplit(".", 1)[-1] in {"api", "pages", "feeds", "static"}, module
    for module, imports in modules("server").items():
        if module in COMPOSITION:
            continue
        reached = (imports & found) - {module}
        assert not reached, f"{module} imports the router(s) {sorted(reached)}"


def test_only_the_composition_root_imports_tycho():
    for package in ("runner", "server", "phenomena"):
        assert not {m for m in imported_modules(package) if m.split(".")[0] == "tycho"}, package


def test_a_laptop_rerun_loads_no_database_or_web_framework():
    # `tycho` loads server.cli (the operator's commands) but nothing they run.
    code = ("import sys, tycho.cli, runner.client, runner.worker, runner.execute, "
            "runner.reproduce, runner.local; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'fastapi', 'starlette', 'sqlmodel', 'sqlalchemy', 'alembic', 'uvicorn'} "
            "or (m.split('.')[0] == 'server' and m not in {'server', 'server.cli'})); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
