"""`tycho serve`: migrate, start the API and pages, and a local verification worker.

The local worker is a separate process that talks to the server over HTTP with
a worker token, exactly as a volunteer's worker on another machine would.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading

import uvicorn
from sqlmodel import select

from server.app import create_app
from server.db import session_for, upgrade_database
from server.initial_data import seed_canonical
from server.models import ApiToken, TokenScope, utcnow
from server.settings import Settings
from server.users.accounts import ensure_user
from server.users.tokens import issue_token

LOCAL_WORKER = "local-worker"
LOCAL_WORKER_LABEL = "tycho serve local worker"


def local_worker_token(settings: Settings) -> str:
    """A fresh worker token for this start; the previous start's tokens are revoked."""
    with session_for(settings.resolved_database_url()) as session:
        user = ensure_user(session=session, handle=LOCAL_WORKER,
                           display_name="Local verification worker")
        for old in session.exec(select(ApiToken).where(
                ApiToken.user_id == user.id, ApiToken.label == LOCAL_WORKER_LABEL,
                ApiToken.revoked_at.is_(None))).all():
            old.revoked_at = utcnow()
            session.add(old)
        return issue_token(session=session, user=user, scope=TokenScope.worker,
                           label=LOCAL_WORKER_LABEL)


# What the local worker keeps of the server's environment: it runs untrusted
# recipes' parents, so it gets no database URL or other secrets.
WORKER_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
# How long a stopping server waits for its worker to hand its job back.
WORKER_STOP_SECONDS = 30
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """The worker gets SIGTERM if the server dies, rather than polling a dead URL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def start_local_worker(*, url: str, token: str, concurrency: int,
                       parallel: int | None = None) -> subprocess.Popen:
    # The token travels in the environment, not argv, so `ps` does not show it.
    env = {k: os.environ[k] for k in WORKER_ENVIRONMENT if k in os.environ}
    env.update(TYCHO_TOKEN=token, TYCHO_SERVER=url)
    sandboxes = ["--parallel", str(parallel)] if parallel else []
    return subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "worker", "--concurrency", str(concurrency),
         *sandboxes, "--worker-id", LOCAL_WORKER],
        env=env,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


class _RegistryServer(uvicorn.Server):
    """uvicorn that, asked to stop, first stops its local worker and keeps serving
    until the worker has handed its job back (the hand-back is an HTTP call)."""

    def __init__(self, config: uvicorn.Config, worker: subprocess.Popen | None) -> None:
        super().__init__(config)
        self.worker = worker

    def handle_exit(self, sig: int, frame) -> None:
        if self.worker is None or self.worker.poll() is not None:
            super().handle_exit(sig, frame)
            return
        self.worker.terminate()

        def stop_after_worker() -> None:
            try:
                self.worker.wait(timeout=WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.worker.kill()
            super(_RegistryServer, self).handle_exit(sig, frame)

        threading.Thread(target=stop_after_worker, daemon=True).start()


def _loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def local_address(host: str, port: int) -> str:
    """Where this machine reaches the server: a wildcard interface is reached on loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def public_address(host: str, port: int, public_url: str | None = None) -> str:
    """The address the registry gives in pages, citations and feeds: --public-url, else
    TYCHO_PUBLIC_URL, else the address it listens on."""
    chosen = public_url or os.environ.get("TYCHO_PUBLIC_URL") or local_address(host, port)
    return chosen.rstrip("/")


def serve(*, host: str, port: int, database_url: str, start_worker: bool = True,
          worker_concurrency: int = 1, worker_parallel: int | None = None,
          public_url: str | None = None) -> None:
    public = public_address(host, port, public_url)
    settings = Settings(database_url=database_url, public_url=public)
    if not _loopback(host) and os.geteuid() != 0 and "TYCHO_VERIFY_SUBMITTED_CODE" not in os.environ:
        # Without root the sandbox cannot switch a recipe to its own uid, so a
        # submitted recipe could read this user's files (docs/deployment.md).
        settings = settings.model_copy(update={"verify_submitted_code": False})
        print("serving beyond this machine without root: submitted code will not be run "
              "(verdict: unverifiable); set TYCHO_VERIFY_SUBMITTED_CODE=true to run it anyway",
              flush=True)
    upgrade_database(database_url)
    if settings.seed_canonical:
        with session_for(database_url) as session:
            seeded = seed_canonical(session=session, settings=settings)
        if seeded:
            print(f"a new registry: posted the canonical observations {', '.join(seeded)}; "
                  "the local worker verifies them in the background", flush=True)
    app = create_app(settings)
    shown = database_url.split("@")[-1]
    print(f"Tycho registry on {public}  (API {public}/api/v1, docs {public}/docs)", flush=True)
    print(f"database: {shown}", flush=True)
    worker = None
    if start_worker:
        worker = start_local_worker(url=local_address(host, port),
                                    token=local_worker_token(settings),
                                    concurrency=worker_concurrency, parallel=worker_parallel)
        print(f"local worker started (pid {worker.pid}); --no-worker to turn it off", flush=True)
    registry = _RegistryServer(uvicorn.Config(app, host=host, port=port, log_level="info"), worker)
    try:
        registry.run()
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                worker.kill()
