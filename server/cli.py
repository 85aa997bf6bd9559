"""The registry operator's commands: `tycho serve`, `tycho db ...` and `tycho user ...`.

They import the rest of the server only when they run, so that `tycho run` or
`tycho rerun` on a laptop loads no database or web framework (tycho.cli puts
these beside the runner's commands on the one `tycho` command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from runner.cli_common import console, fail

DbOpt = Annotated[Optional[Path], typer.Option("--db", help="SQLite file to use instead of "
                                               "TYCHO_DATABASE_URL / the default data dir.")]


def database_url(db: Path | None) -> str:
    """The database a command works on: --db FILE, else the settings' (TYCHO_DATABASE_URL)."""
    from server.settings import get_settings

    if db is not None:
        return f"sqlite:///{db.resolve()}"
    return get_settings().resolved_database_url()


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    db: DbOpt = None,
    public_url: Annotated[Optional[str], typer.Option(
        help="The address people reach it at, for its pages, citations and feeds "
             "(default: TYCHO_PUBLIC_URL, else http://HOST:PORT).")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not start a local worker.")] = False,
    concurrency: Annotated[int, typer.Option(help="Jobs the local worker runs at once.")] = 1,
    parallel: Annotated[Optional[int], typer.Option(
        help="Sandboxes each job of the local worker runs at once (default: the machine's "
             "cores).")] = None,
) -> None:
    """Run the registry: migrate the database, start the API and pages, and a local worker.

    With no settings it uses a SQLite file in your data directory. Everything it
    prints, shows or cites uses its public address (--public-url).

    Example: tycho serve --port 8000
    """
    from server.serve import serve as serve_registry

    serve_registry(host=host, port=port, database_url=database_url(db),
                   start_worker=not no_worker, worker_concurrency=concurrency,
                   worker_parallel=parallel, public_url=public_url)


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
    app.command()(serve)
    db_app = typer.Typer(help="The server's database: migrate it, show its revision.")
    db_app.command("upgrade")(db_upgrade)
    db_app.command("current")(db_current)
    user_app = typer.Typer(help="Create users and tokens directly in the server's database.")
    user_app.command("create")(user_create)
    user_app.command("token")(user_token)
    app.add_typer(user_app, name="user")
    app.add_typer(db_app, name="db")
