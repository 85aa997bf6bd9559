"""`tycho serve` on its own: migrates a new SQLite file, starts a local worker, and a
posted built-in observation gets a verdict with no further action."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx

from server.testing import LiveServer


def tycho(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tycho.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_serve_verifies_a_posted_builtin_observation_by_itself(tmp_path):
    database = tmp_path / "fresh" / "tycho.db"  # the directory does not exist yet
    settings = {"TYCHO_VERIFY_SEEDS": "1", "TYCHO_SEED_CANONICAL": "false"}
    env = {**os.environ, **settings, "COLUMNS": "200"}
    # --db wins over TYCHO_DATABASE_URL, for the server as for `tycho user`.
    server = LiveServer("--db", str(database), env=settings, log_path=tmp_path / "serve.log")
    try:
        token = tycho("user", "create", "alice", "--db", str(database), env=env).stdout.split()[-1]
        client_env = {**env, "TYCHO_SERVER": server.url, "TYCHO_TOKEN": token}
        ran = tycho("run", "double-descent", "--quick", "--out", str(tmp_path / "run"), env=env)
        assert ran.returncode in (0, 1), ran.stderr  # quick configs need not satisfy claims
        posted = tycho("post", str(tmp_path / "run"), env=client_env)
        assert posted.returncode == 0, posted.stderr
        ref = posted.stdout.split()[-1]

        deadline = time.monotonic() + 180
        record = {}
        while time.monotonic() < deadline:
            record = httpx.get(f"{server.api}/observations/{ref}", timeout=10).json()
            if record["verdict"] != "unverified":
                break
            time.sleep(1)
    finally:
        server.stop(timeout_s=60)
    log = server.log_path.read_text()
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


def test_serve_gives_the_address_it_listens_on_everywhere(live_server, monkeypatch):
    """Issue 12, friction 3: `tycho serve --port N` advertised and cited :8000."""
    from tests.conftest import observation_body

    monkeypatch.delenv("TYCHO_PUBLIC_URL", raising=False)
    server = live_server()
    assert f"Tycho registry on {server.url} " in server.log()
    assert f"TYCHO_SERVER={server.url}<" in httpx.get(server.url + "/").text
    token = server.user_token("alice")
    created = httpx.post(f"{server.api}/observations", json=observation_body(),
                         headers={"Authorization": f"Bearer {token}"}).json()
    assert created["url"] == f"{server.url}/T-1v1"
    for format in ("bibtex", "csl-json", "cff"):
        cited = httpx.get(f"{server.api}/observations/T-1/cite", params={"format": format}).text
        assert f"{server.url}/T-1v1" in cited and ":8000" not in cited, format
    listed = httpx.get(f"{server.api}/observations").json()["items"]
    assert [item["url"] for item in listed] == [f"{server.url}/T-1v1"]


def test_serve_public_url_wins_over_the_address_it_listens_on(database_url, tmp_path):
    server = LiveServer("--no-worker", "--public-url", "https://tycho.example.org/",
                        database_url=database_url, env={"TYCHO_SEED_CANONICAL": "false"},
                        log_path=tmp_path / "public.log")
    try:
        assert "Tycho registry on https://tycho.example.org " in server.log()
        assert "TYCHO_SERVER=https://tycho.example.org<" in httpx.get(server.url + "/").text
        feed = httpx.get(server.url + "/feeds/observations.atom").text
        assert "https://tycho.example.org/feeds/observations.atom" in feed
    finally:
        server.stop()
