"""The registry's SQLite database is private to the server's user: its directory 0700,
the database, its WAL and its shared-memory file 0600 (issue 11, item 3)."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import text

from server.db import make_engine, upgrade_database


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """The common umask 022, under which files are created world-readable by default."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_database_its_wal_and_shm_are_private_to_the_user(tmp_path, open_umask):
    data_dir = tmp_path / "data"  # does not exist yet, as on a first `tycho serve`
    database = data_dir / "tycho.db"
    upgrade_database(f"sqlite:///{database}")
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:  # a write: SQLite opens the WAL and the SHM
        connection.execute(text("INSERT INTO phenomenon (slug, name, description, created_at) "
                                "VALUES ('x', 'X', '', '2026-01-01')"))
        files = [database, database.with_name("tycho.db-wal"), database.with_name("tycho.db-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: oct(mode(f)) for f in files} == {f.name: "0o600" for f in files}
    engine.dispose()
    assert oct(mode(data_dir)) == "0o700"


def test_an_existing_readable_database_is_made_private(tmp_path, open_umask):
    database = tmp_path / "tycho.db"
    upgrade_database(f"sqlite:///{database}")
    for suffix in ("", "-wal", "-shm"):
        path = database.with_name("tycho.db" + suffix)
        path.touch()
        os.chmod(path, 0o644)  # as an earlier version left them
    make_engine(f"sqlite:///{database}").dispose()
    for suffix in ("", "-wal", "-shm"):
        assert oct(mode(database.with_name("tycho.db" + suffix))) == "0o600", suffix
