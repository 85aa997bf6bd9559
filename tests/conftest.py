"""Shared fixtures: a migrated database per test on SQLite, and on Postgres when
TYCHO_TEST_POSTGRES_URL is set (CI sets it), and an API client bound to it."""

from __future__ import annotations

import os
import shutil

# In-process phenomena in tests use one torch thread, as the runner does for real
# runs: two threads on a busy 2-core machine made quick configs ~8x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from server.app import create_app
from server.db import make_engine, upgrade_database
from server.settings import Settings
from server.testing import LiveServer, recreate_postgres_schema

POSTGRES_URL = os.environ.get("TYCHO_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    """A SQLite file built once by running the migrations; tests get copies."""
    path = tmp_path_factory.mktemp("template") / "tycho.db"
    upgrade_database(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    """The Postgres test database, emptied and migrated once per session."""
    recreate_postgres_schema(POSTGRES_URL)
    return POSTGRES_URL


def _empty_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        tables = connection.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'")).scalars().all()
        connection.execute(text(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """A test that starts a real server (`live_server`: a `tycho serve` process, often
    workers and CLI processes beside it) or is marked `slow_on_postgres` (schemathesis)
    runs on SQLite in the default suite and on Postgres in the slow one, which CI also
    runs: the same end-to-end paths twice cost the default suite minutes (its target is
    under 10 on 2 cores). Runs before `-m` deselects."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (callspec is not None and callspec.params.get("database_url") == "postgres"
                and ("live_server" in getattr(item, "fixturenames", ())
                     or item.get_closest_marker("slow_on_postgres"))):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path, sqlite_template) -> str:
    if request.param == "sqlite":
        path = tmp_path / "tycho.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_migrated")
    _empty_postgres(url)
    return url


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, verify_seeds=2)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def register(client, handle: str) -> dict[str, str]:
    """Register `handle` and return its auth headers."""
    response = client.post("/api/v1/users", json={"handle": handle, "display_name": handle.title()})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def alice(client) -> dict[str, str]:
    return register(client, "alice")


def observation_body(**overrides) -> dict:
    """A small valid observation of the grokking built-in."""
    body = {
        "title": "Grokking on modular addition",
        "phenomena": ["grokking"],
        "tags": ["mlp"],
        "notes": "Train accuracy saturates long before test accuracy.",
        "recipe": {"builtin": "grokking"},
        "config": {},
        "seed": 0,
        "metrics": {
            "train_acc": {"x": [0, 100, 200, 300], "y": [0.1, 1.0, 1.0, 1.0]},
            "test_acc": {"x": [0, 100, 200, 300], "y": [0.01, 0.05, 0.5, 0.99]},
        },
        "claims": ["final(test_acc) >= 0.95",
                   "first_step(test_acc >= 0.95) >= 2 * first_step(train_acc >= 0.99)"],
    }
    body.update(overrides)
    return body


# --- a real server over loopback -------------------------------------------------

TINY_RECIPE = '''\
import random


def run(config, log):
    """A toy: the running mean of uniform draws settles near 1/2."""
    draws = random.Random(config["seed"])
    total = 0.0
    for step in range(config.get("steps", 50)):
        total += draws.random()
        log(step, total=total, mean=total / (step + 1))
'''


@pytest.fixture
def live_server(database_url, tmp_path):
    """A factory: live_server(TYCHO_VERIFY_SEEDS="0", ...) starts `tycho serve --no-worker`
    on this test's database, from an empty registry (no canonical observations)."""
    servers = []

    def start(**env: str) -> LiveServer:
        server = LiveServer("--no-worker", database_url=database_url,
                            env={"TYCHO_SEED_CANONICAL": "false", **env},
                            log_path=tmp_path / f"server{len(servers)}.log")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
