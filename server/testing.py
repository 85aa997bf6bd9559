"""A real registry over loopback, for the tests and the benchmarks: `tycho serve` in a
subprocess on a free port, started, waited for and stopped in one place.

    with LiveServer("--no-worker", database_url=url, log_path=tmp / "server.log") as server:
        httpx.get(server.api + "/health")

Nothing in the service imports this module.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """`python -m tycho.cli serve --port N ARGS...` until stop() or the end of a `with`.

    `database_url` becomes TYCHO_DATABASE_URL (or pass `--db FILE` in `args`);
    `env` is added to this process's environment; `cwd` decides whose code is
    served (`python -m` puts it first on the server's path). Waits until
    /api/v1/health answers, and raises with the end of the server's log if it
    does not within `start_timeout_s`.
    """

    def __init__(self, *args: str, log_path: Path, database_url: str | None = None,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 start_timeout_s: float = 60.0) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = self.url + "/api/v1"
        self.log_path = log_path
        self.env = {**os.environ, **({"TYCHO_DATABASE_URL": database_url} if database_url else {}),
                    **(env or {})}
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tycho.cli", "serve", "--port", str(self.port), *args],
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd)
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.api + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"tycho serve did not start:\n{self.log_path.read_text()[-3000:]}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far (Linux /proc)."""
        return process_cpu_seconds(self.process.pid) or 0.0

    def user_token(self, handle: str) -> str:
        """A write token of a new user `handle`, made straight in the server's database."""
        from server.users.accounts import create_user_with_token

        return create_user_with_token(self.database_url, handle=handle)

    def worker_token(self, handle: str = "worker") -> str:
        """A worker token of a new user `handle`."""
        from server.users.accounts import create_user_with_token, issue_token_for

        create_user_with_token(self.database_url, handle=handle)
        return issue_token_for(self.database_url, handle=handle, scope="worker")

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM (the server first stops its local worker), then SIGKILL after `timeout_s`."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process from /proc (None when it is gone, or not Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def recreate_postgres_schema(url: str) -> None:
    """Drop everything in a Postgres database (its public schema) and migrate it afresh."""
    from sqlalchemy import text

    from server.db import session_for, upgrade_database

    with session_for(url) as session:
        session.execute(text("DROP SCHEMA public CASCADE"))
        session.execute(text("CREATE SCHEMA public"))
    upgrade_database(url)
