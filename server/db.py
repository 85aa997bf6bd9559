"""Engines, sessions and migrations for SQLite (embedded) and Postgres (production)."""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, event, make_url
from sqlalchemy.pool import QueuePool
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


# --- many writers on one SQLite file ------------------------------------------------
# SQLite has one writer at a time. Left to itself, every other writer polls the lock
# (busy_timeout) with growing sleeps, and under 64 concurrent writers the requests
# that also waited for one of a handful of pooled connections failed (28% were 500s).
# So, deliberately: every thread gets a connection (the pool is larger than the
# server's thread pool), and writers queue in this process for the file's write gate,
# a lock taken at a transaction's first write and given back at its commit or
# rollback. A writer that waits longer than `wait_seconds` gets DatabaseBusy, which
# the API answers with 503 and Retry-After. Postgres needs none of this.

# More than the threads that serve requests (anyio's default pool has 40).
SQLITE_POOL_SIZE = 48
# How long a request waits for a connection or for its turn to write (s).
DEFAULT_WAIT_SECONDS = 30.0
WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)
_WRITE_GATES: dict[str, threading.Lock] = {}
_WRITE_GATES_LOCK = threading.Lock()


class DatabaseBusy(Exception):
    """The database did not take a request's write in time; try again shortly."""


def _write_gate(path: str) -> threading.Lock:
    """The one write gate of a SQLite file in this process (shared by its engines)."""
    key = os.path.realpath(path) if path else ":memory:"
    with _WRITE_GATES_LOCK:
        return _WRITE_GATES.setdefault(key, threading.Lock())


def _queue_writers(engine: Engine, gate: threading.Lock, wait_seconds: float) -> None:
    """Take `gate` before a transaction's first write; give it back when it ends."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before_write(connection, _cursor, statement, _parameters, _context, _many):
        if connection.info.get("writing") or not WRITES.match(statement):
            return
        if not gate.acquire(timeout=wait_seconds):
            raise DatabaseBusy(f"waited {wait_seconds:.0f} s for the database to take a write")
        connection.info["writing"] = True

    def _release(info: dict) -> None:
        if info.pop("writing", False):
            gate.release()

    @event.listens_for(engine, "commit")
    def _committed(connection):
        _release(connection.info)

    @event.listens_for(engine, "rollback")
    def _rolled_back(connection):
        _release(connection.info)

    @event.listens_for(engine.pool, "checkin")
    def _returned(_dbapi_connection, record):  # a connection given back mid-transaction
        if record is not None:
            _release(record.info)


def make_engine(url: str, *, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> Engine:
    """An engine for `url`; SQLite gets WAL mode, foreign keys, a busy timeout, a file
    only the server's user can read, a connection for every thread and writers that
    queue (above). Waiting longer than `wait_seconds` for a connection or a write raises
    (sqlalchemy's TimeoutError, DatabaseBusy): the API answers 503."""
    if url.startswith("sqlite"):
        path = make_url(url).database or ""  # "" in memory ("sqlite://")
        if path and path != ":memory:" and not path.startswith("file:"):
            make_private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False},
                               json_serializer=storable_json, poolclass=QueuePool,
                               pool_size=SQLITE_POOL_SIZE, max_overflow=16,
                               pool_timeout=wait_seconds)
        _queue_writers(engine, _write_gate(path), wait_seconds)

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
                         pool_timeout=wait_seconds, json_serializer=storable_json)


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
