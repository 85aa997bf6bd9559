"""The registry operator's commands: `tycho serve`, `worker`, `db` and `user`.

They import the server (or the worker) only when they run, so a laptop that
only re-runs observations loads no database or web framework.
"""

from __future__ import annotations

import logging
from typing import Annotated, Optional

import typer

from runner.cli_common import DbOpt, ServerOpt, console, database_url, fail
from runner.client import Client, TychoError, default_server


def worker(
    server: ServerOpt = default_server(),
    token: Annotated[Optional[str], typer.Option(
        "--token", envvar="TYCHO_TOKEN", help="A worker-scoped token.")] = None,
    once: Annotated[bool, typer.Option(help="Do at most one job, then exit.")] = False,
    concurrency: Annotated[int, typer.Option(help="Jobs at once (each runs its seeds in turn).")] = 1,
    threads: Annotated[Optional[int], typer.Option(
        help="torch threads per run (default: as many as each author used).")] = None,
    worker_id: Annotated[Optional[str], typer.Option(help="Name in the registry's records.")] = None,
) -> None:
    """Verify observations: claim jobs from a registry, re-run them, report verdicts.

    Needs a worker token (tycho user token HANDLE --scope worker). SIGTERM
    hands the current job back.

    Example: TYCHO_TOKEN=tyc_... tycho worker --server https://tycho.example.org
    """
    from runner.worker import run_workers

    if not token:
        fail("a worker token is needed (--token or TYCHO_TOKEN)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not every heartbeat request
    try:
        done = run_workers(lambda: Client(server=server, token=token), concurrency=concurrency,
                           once=once, threads=threads, worker_id=worker_id)
    except TychoError as exc:
        fail(f"{exc} — is this a worker token for {server}?", code=1)
    logging.getLogger("tycho.worker").info("stopped after %d job(s)", done)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    db: DbOpt = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not start a local worker.")] = False,
    workers: Annotated[int, typer.Option(help="Jobs the local worker runs at once.")] = 1,
) -> None:
    """Run the registry: migrate the database, start the API and pages, and a local worker.

    With no settings it uses a SQLite file in your data directory.

    Example: tycho serve --port 8000
    """
    from server.serve import serve as serve_registry

    serve_registry(host=host, port=port, database_url=database_url(db),
                   start_worker=not no_worker, worker_concurrency=workers)


def db_upgrade(db: DbOpt = None) -> None:
    """Migrate the database to the newest schema (TYCHO_DATABASE_URL or --db)."""
    from server.db import upgrade_database

    url = database_url(db)
    upgrade_database(url)
    console.print(f"database at head: {url.split('@')[-1]}")


def db_current(db: DbOpt = None) -> None:
    """Show the database's schema revision."""
    from alembic import command

    from server.db import alembic_config

    command.current(alembic_config(database_url(db)))


def user_create(
    handle: Annotated[str, typer.Argument(help="Lower-case handle.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    admin: Annotated[bool, typer.Option(help="Make an admin (token scope admin).")] = False,
    db: DbOpt = None,
) -> None:
    """Create a user and print their token (shown once).

    Example: tycho user create alice --name "Alice Liddell"
    """
    from server.users.accounts import create_user_with_token

    try:
        token = create_user_with_token(database_url(db), handle=handle, display_name=name,
                                       admin=admin)
    except ValueError as exc:
        fail(str(exc))
    console.print(f"created {handle}; token (shown once):")
    print(token)


def user_token(
    handle: Annotated[str, typer.Argument(help="An existing handle.")],
    scope: Annotated[str, typer.Option(help="write, worker or admin.")] = "write",
    db: DbOpt = None,
) -> None:
    """Issue another token for a user (e.g. a worker token).

    Example: tycho user token alice --scope worker
    """
    from server.users.accounts import issue_token_for

    try:
        print(issue_token_for(database_url(db), handle=handle, scope=scope))
    except ValueError as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    """Add these commands to the `tycho` app."""
    app.command()(worker)
    app.command()(serve)
    db_app = typer.Typer(help="The server's database: migrate it, show its revision.")
    db_app.command("upgrade")(db_upgrade)
    db_app.command("current")(db_current)
    user_app = typer.Typer(help="Create users and tokens directly in the server's database.")
    user_app.command("create")(user_create)
    user_app.command("token")(user_token)
    app.add_typer(user_app, name="user")
    app.add_typer(db_app, name="db")
