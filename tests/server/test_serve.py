"""`tycho serve` on its own: migrates a new SQLite file, starts a local worker, and a
posted built-in observation gets a verdict with no further action."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx

from tests.conftest import free_port


def tycho(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tycho.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_serve_verifies_a_posted_builtin_observation_by_itself(tmp_path):
    port = free_port()
    database = tmp_path / "fresh" / "tycho.db"  # the directory does not exist yet
    env = {**os.environ, "TYCHO_VERIFY_SEEDS": "1", "TYCHO_SEED_CANONICAL": "false",
           "COLUMNS": "200"}
    env.pop("TYCHO_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "tycho.cli", "serve", "--db", str(database), "--port", str(port)],
        env=env, stdout=open(tmp_path / "serve.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        token = tycho("user", "create", "alice", "--db", str(database), env=env).stdout.split()[-1]
        client_env = {**env, "TYCHO_SERVER": url, "TYCHO_TOKEN": token}
        ran = tycho("run", "double-descent", "--quick", "--out", str(tmp_path / "run"), env=env)
        assert ran.returncode in (0, 1), ran.stderr  # quick configs need not satisfy claims
        posted = tycho("post", str(tmp_path / "run"), env=client_env)
        assert posted.returncode == 0, posted.stderr
        ref = posted.stdout.split()[-1]

        deadline = time.monotonic() + 180
        record = {}
        while time.monotonic() < deadline:
            record = httpx.get(f"{url}/api/v1/observations/{ref}", timeout=10).json()
            if record["verdict"] != "unverified":
                break
            time.sleep(1)
    finally:
        server.terminate()
        server.wait(timeout=60)
    log = (tmp_path / "serve.log").read_text()
    assert "local worker started" in log
    worker_pid = int(re.search(r"local worker started \(pid (\d+)\)", log).group(1))
    deadline = time.monotonic() + 30  # the server stops its worker before itself
    while os.path.exists(f"/proc/{worker_pid}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{worker_pid}"), "tycho serve left its worker running"
    assert record["verdict"] in {"reproduced", "robust", "fragile", "not-reproduced"}, (
        record.get("verdict"), log[-3000:])
    assert [(r["kind"], r["seed"]) for r in record["runs"]] == [
        ("author", 0), ("verification", 0), ("verification", 1)]
    assert all(c["exact"] for c in record["comparisons"])  # same machine, same bits
