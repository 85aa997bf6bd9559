"""What every `tycho` command shares: consoles, options, errors, the client."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from runner.client import Client

console = Console()
errors = Console(stderr=True)

ServerOpt = Annotated[str, typer.Option("--server", envvar="TYCHO_SERVER",
                                        help="Registry URL.")]
TokenOpt = Annotated[Optional[str], typer.Option("--token", envvar="TYCHO_TOKEN",
                                                 help="API token (writes need one).")]
DbOpt = Annotated[Optional[Path], typer.Option("--db", help="SQLite file to use instead of "
                                               "TYCHO_DATABASE_URL / the default data dir.")]


def fail(message: str, code: int = 2) -> None:
    errors.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def make_client(server: str, token: str | None) -> Client:
    return Client(server=server, token=token)


def database_url(db: Path | None) -> str:
    from server.settings import get_settings

    if db is not None:
        return f"sqlite:///{db.resolve()}"
    return get_settings().resolved_database_url()
