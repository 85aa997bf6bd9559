"""docker-compose.yml and the Dockerfile: there is no Docker engine here, so check
what can be checked — the files parse, and every command, option and variable
they use exists in the project."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import text

from server.db import session_for
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
# Variables read by the CLI rather than by server settings.
CLI_VARIABLES = {"TYCHO_TOKEN", "TYCHO_SERVER"}


def test_compose_has_postgres_server_and_a_scalable_worker():
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "server", "worker"}
    assert "ports" not in services["worker"] and "container_name" not in services["worker"]
    assert services["server"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_command_in_compose_is_a_real_tycho_command():
    for name in ("server", "worker"):
        command = COMPOSE["services"][name]["command"]
        assert command[0] == "tycho"
        options = [word for word in command[2:] if word.startswith("--")]
        help_text = subprocess.run([sys.executable, "-m", "tycho.cli", command[1], "--help"],
                                   capture_output=True, text=True, env={"COLUMNS": "200",
                                                                        "PATH": "/usr/bin:/bin"})
        assert help_text.returncode == 0, help_text.stderr
        for option in options:
            assert option in help_text.stdout, (name, option)


def test_every_tycho_variable_in_compose_is_read_by_the_project():
    fields = {f"TYCHO_{name.upper()}" for name in Settings.model_fields}
    used = {variable for service in COMPOSE["services"].values()
            for variable in service.get("environment", {}) if variable.startswith("TYCHO_")}
    assert used and used <= fields | CLI_VARIABLES, used - fields - CLI_VARIABLES


def test_the_dockerfile_copies_what_exists_and_installs_the_cpu_torch_first():
    text = (ROOT / "Dockerfile").read_text()
    sources = [part for line in re.findall(r"^COPY (.+) \S+$", text, flags=re.MULTILINE)
               for part in line.split()]
    assert "runner" in sources and "migrations" in sources
    for part in sources:
        assert (ROOT / part).exists(), part
    assert text.index("torch==2.13.0") < text.index('pip install ".[postgres]"')
    assert 'CMD ["tycho", "serve"' in text


def test_a_preshared_worker_token_lets_a_worker_claim(settings):
    from fastapi.testclient import TestClient

    from server.app import create_app

    shared = settings.model_copy(update={"worker_token": "tyc_compose-secret"})
    with TestClient(create_app(shared)) as client:
        answer = client.post("/api/v1/jobs/claim", json={"worker_id": "w"},
                             headers={"Authorization": "Bearer tyc_compose-secret"})
        assert answer.status_code == 204  # authenticated as a worker; the queue is empty
    with TestClient(create_app(shared)):  # a restart registers it once, not twice
        pass
    with session_for(shared.resolved_database_url()) as session:
        count = session.execute(text(
            "SELECT COUNT(*) FROM apitoken WHERE label = 'TYCHO_WORKER_TOKEN'")).scalar_one()
    assert count == 1
