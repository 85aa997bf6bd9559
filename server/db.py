"""Engines, sessions and migrations for SQLite (embedded) and Postgres (production)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, event
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# How long a SQLite writer waits for the lock before failing (ms): the API and
# the local worker share one file, and a verification result can be large.
SQLITE_BUSY_TIMEOUT_MS = 30_000


# The database holds token hashes and hidden comment revisions: only the server's
# user may read it (a recipe run under another uid, or another user, may not).
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_private_sqlite_file(path: Path) -> None:
    """Create the SQLite file `path` readable by this user only (0600), in a directory of
    its own (0700) when there is none yet, and take group and other access away from the
    file and its WAL, shared-memory and journal files if they have it.

    SQLite creates the WAL and shared-memory files with the mode of the database file,
    so creating that file 0600 before SQLite opens it is what keeps them private.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path.parent, PRIVATE_DIR_MODE)  # whatever the umask
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE_MODE))
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        try:
            if companion.stat().st_mode & 0o077:
                os.chmod(companion, PRIVATE_FILE_MODE)
        except FileNotFoundError:
            continue
        except PermissionError:  # not ours: say nothing here; SQLite will say if it matters
            continue


def storable_json(value: Any) -> str:
    """JSON columns as stored: NaN and infinities, which JSON cannot carry (Postgres
    refuses the `Infinity` that Python's json writes), are stored as null, the wire
    format's "not a finite number"."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite_or_none(value), allow_nan=False)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    return value


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL mode, foreign keys and a busy timeout, and a
    file only the server's user can read."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            make_private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False},
                               json_serializer=storable_json)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         json_serializer=storable_json)


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    """Run the Alembic migrations up to `revision` (creating the database file if needed)."""
    if url.startswith("sqlite"):
        make_engine(url).dispose()  # creates the parent directory
    command.upgrade(alembic_config(url), revision)


@contextmanager
def session_for(url: str) -> Iterator[Session]:
    """A session on its own engine for `url`, for work outside a request (the CLI, `tycho
    serve` starting up, tests, benchmarks): committed when the block ends, rolled back
    if it raises; the engine is disposed either way.

        with session_for(url) as session:
            ensure_phenomena(session=session)
    """
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    finally:
        engine.dispose()


def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed by its caller, and rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        except Exception:
            session.rollback()
            raise


def aware(moment: datetime) -> datetime:
    """Stored times are UTC; SQLite may hand them back without a zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
