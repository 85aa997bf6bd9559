"""Shared helpers of the benchmarks: databases, a live server, statistics, tables.

Not a test module and not part of the service: the benchmarks print figures;
nothing here asserts on time. The live server is server.testing's, as the
tests use it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from server.testing import LiveServer, process_cpu_seconds, recreate_postgres_schema

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ENV = "TYCHO_BENCH_POSTGRES_URL"


# --- the command line ------------------------------------------------------------------


def database_arguments(description: str, server_dir_help: str) -> argparse.ArgumentParser:
    """A parser with the options of the benchmarks that run a server on SQLite and Postgres:
    --postgres-url, --server-dir and --force."""
    parser = argparse.ArgumentParser(
        description=description,
        epilog="Postgres: the database is DROPPED and recreated; use a dedicated one "
        "(e.g. .../tycho_bench), never the test database.")
    parser.add_argument("--postgres-url", default=None,
                        help=f"Postgres benchmark database (else ${POSTGRES_ENV}; "
                        "skipped when neither is set)")
    parser.add_argument("--server-dir", type=Path, default=None, help=server_dir_help)
    parser.add_argument("--force", action="store_true",
                        help="allow a Postgres database whose name lacks 'bench'")
    return parser


def begin(title: str, args: argparse.Namespace, postgres_wanted: bool) -> str | None:
    """Print the title and the machine's load; the Postgres URL, if one was given."""
    silence_sql_logs()
    print(f"{title}; {load_line()}")
    pg_url = postgres_url(args.postgres_url)
    if postgres_wanted and not pg_url:
        print(f"  (Postgres skipped: pass --postgres-url or set {POSTGRES_ENV})")
    return pg_url


def done() -> int:
    """The machine's load at the end, beside the figures; the exit status."""
    print(f"\n{load_line()}")
    return 0


# --- machine load ----------------------------------------------------------------------


def load_line() -> str:
    """`uptime`'s load averages and the CPU count, for the record next to the figures."""
    one, five, fifteen = os.getloadavg()
    return (f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} (1/5/15 min) on "
            f"{os.cpu_count()} CPUs")


def banner(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def note(text: str) -> None:
    print(f"  {text}", flush=True)


# --- statistics and tables --------------------------------------------------------------


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def p90_ms(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(0.9 * (len(ordered) - 1))))
    return ordered[index] * 1000


def timed(call: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    """Wall times (s) of `repeat` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain fixed-width table (first column left-aligned, the others right-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def results(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]],
            explanation: str) -> None:
    """A titled table of figures and what its columns mean."""
    banner(title)
    print(table(headers, rows))
    print(explanation)


# --- databases --------------------------------------------------------------------------


def postgres_url(cli_value: str | None) -> str | None:
    return cli_value or os.environ.get(POSTGRES_ENV) or None


def _dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def guard_postgres(url: str, force: bool) -> None:
    """Refuse to wipe the test database (or any database not named like a benchmark one)."""
    name = _dbname(url)
    if name == "tycho_test" or ("bench" not in name and not force):
        raise SystemExit(
            f"refusing to drop and recreate the Postgres database {name!r}: the benchmark "
            "wipes its database. Use a dedicated one, e.g. "
            "postgresql://tycho:tycho@127.0.0.1:5432/tycho_bench (created with "
            "`su postgres -c \"createdb -O tycho tycho_bench\"`), or pass --force."
        )


def reset_postgres(url: str) -> str:
    """Drop and recreate the benchmark database, then migrate it. Returns how it was reset.

    As root: `dropdb` + `createdb -O <user>` as the postgres superuser. Otherwise
    (no right to create databases): drop and recreate the public schema, which
    the owner of the database may do.
    """
    from server.db import upgrade_database

    parts = urlsplit(url)
    name, owner = _dbname(url), parts.username or "tycho"
    how = "schema reset"
    if os.geteuid() == 0 and shutil.which("su"):
        done = subprocess.run(
            ["su", "postgres", "-c",
             f"dropdb --if-exists '{name}' && createdb -O '{owner}' '{name}'"],
            capture_output=True, text=True, cwd="/", check=False,
        )
        if done.returncode == 0:
            how = "dropped and recreated"
    if how == "schema reset":
        recreate_postgres_schema(url)
    else:
        upgrade_database(url)
    return how


def fresh_sqlite(workdir: Path, name: str = "tycho.db") -> str:
    from server.db import upgrade_database

    path = workdir / name
    for leftover in (path, path.with_name(name + "-wal"), path.with_name(name + "-shm")):
        leftover.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade_database(url)
    return url


def backends(pg_url: str | None, force: bool, workdir: Path) -> list[tuple[str, Callable[[], str]]]:
    """(label, factory of a fresh migrated database URL) for SQLite and, if given, Postgres."""
    found: list[tuple[str, Callable[[], str]]] = [("sqlite", lambda: fresh_sqlite(workdir))]
    if pg_url:
        guard_postgres(pg_url, force)

        def postgres() -> str:
            how = reset_postgres(pg_url)
            note(f"postgres database {_dbname(pg_url)!r}: {how} and migrated")
            return pg_url

        found.append(("postgres", postgres))
    return found


def silence_sql_logs() -> None:
    import logging

    for name in ("alembic", "alembic.runtime.migration", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)


class DatabaseCpu:
    """CPU time of the Postgres backends serving one database (None on SQLite, whose
    work happens inside the server process and is counted there).

    Reads pg_stat_activity for the backends' pids and /proc for their CPU time,
    so it needs a local Postgres and the right to read its processes (root, or
    the postgres user).
    """

    def __init__(self, database_url: str) -> None:
        self.url = database_url if database_url.startswith("postgresql") else None
        self._engine = None

    def snapshot(self) -> dict[int, float] | None:
        if self.url is None:
            return None
        from sqlalchemy import text

        from server.db import make_engine

        if self._engine is None:
            self._engine = make_engine(self.url)
        with self._engine.connect() as connection:
            me = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            pids = connection.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend'")).scalars().all()
        found = {pid: process_cpu_seconds(pid) for pid in pids if pid != me}
        found = {pid: cpu for pid, cpu in found.items() if cpu is not None}
        return found or None

    @staticmethod
    def used(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
        """CPU seconds the backends used between two snapshots (new backends from zero)."""
        if before is None and after is None:
            return None
        before, after = before or {}, after or {}
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


# --- a real server over loopback --------------------------------------------------------


def live_server(database_url: str, workdir: Path, env: dict[str, str] | None = None,
                label: str = "server", source_dir: Path | None = None) -> LiveServer:
    """`tycho serve --no-worker` on `database_url`, logging to WORKDIR/LABEL.log.

    No canonical observations are seeded into an empty registry: the benchmarks
    count their own jobs and observations. `source_dir` (another checkout, e.g.
    one with a fix applied) serves its own code: `python -m` puts the working
    directory first on the server's path.
    """
    return LiveServer(
        "--no-worker", database_url=database_url, log_path=workdir / f"{label}.log",
        env={"TYCHO_DATA_DIR": str(workdir / "data"), "TYCHO_SEED_CANONICAL": "false",
             **(env or {})},
        cwd=source_dir or REPO, start_timeout_s=90)
