"""What every `tycho` command shares: the app's look, consoles, options, errors, the client."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console

from runner.client import Client, TychoError

console = Console()
errors = Console(stderr=True)

ServerOpt = Annotated[str, typer.Option("--server", envvar="TYCHO_SERVER",
                                        help="Registry URL.")]
TokenOpt = Annotated[Optional[str], typer.Option("--token", envvar="TYCHO_TOKEN",
                                                 help="API token (writes need one).")]
HELP = "Tycho: post, verify, browse, rerun and cite observations of how small models train."


def new_app() -> typer.Typer:
    """An empty `tycho` command: help when called bare, no shell completion, plain tracebacks."""
    return typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False)


def fail(message: str, code: int = 2) -> None:
    errors.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def fail_registry(exc: TychoError, server: str, code: int = 2) -> None:
    """The registry's refusal in its own words; where it cannot be reached, how to start one."""
    if exc.status == 0:
        fail(f"cannot reach a Tycho registry at {server} ({exc.detail.split(': ', 1)[-1]}). "
             "Start one on this machine with `tycho serve`, or point --server (TYCHO_SERVER) "
             "at a running one.", code=code)
    fail(str(exc), code=code)


def make_client(server: str, token: str | None) -> Client:
    return Client(server=server, token=token)
