"""Many writers on one SQLite file queue for their turn; none gets a 500, and a writer
that cannot get its turn in time gets 503 with Retry-After (issue 11, item 8).
`benchmarks/load.py` measures the same at 16 and 64 clients against a real server,
on SQLite and Postgres."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from server import db
from server.app import create_app
from server.settings import Settings
from tests.conftest import observation_body, register

WRITERS = 64
POSTS_EACH = 3


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single writer; Postgres takes concurrent writes itself")
    return database_url


@pytest.mark.slow  # a 64-writer soak: CI's slow suite
def test_64_concurrent_writers_all_succeed_and_every_write_reads_back(
        sqlite_only, client, monkeypatch):
    # SQLite's own wait for its lock, short: writers that raced for the file rather than
    # queueing for it failed within seconds (as they did, under load, with 30 s).
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    client.app.state.engine.dispose()  # new connections take the new busy timeout
    headers = [register(client, f"writer{i}") for i in range(WRITERS)]

    def write(i: int) -> list[tuple[int, str]]:
        answers = []
        for k in range(POSTS_EACH):
            title = f"writer {i} post {k}"
            answer = client.post("/api/v1/observations", headers=headers[i],
                                 json=observation_body(title=title))
            answers.append((answer.status_code, answer.json().get("id", title)))
            client.get("/api/v1/observations?limit=5")  # and read in between
        return answers

    with ThreadPoolExecutor(WRITERS) as pool:
        results = [a for answers in pool.map(write, range(WRITERS)) for a in answers]
    statuses = sorted({status for status, _ in results})
    assert statuses == [201], [r for r in results if r[0] != 201][:5]
    ids = {ref for _, ref in results}
    assert len(ids) == WRITERS * POSTS_EACH
    for ref in ids:
        assert client.get(f"/api/v1/observations/{ref}").status_code == 200, ref


def test_a_writer_that_cannot_get_its_turn_gets_503_with_retry_after(
        sqlite_only, tmp_path, settings):
    busy = settings.model_copy(update={"db_wait_seconds": 0.2})
    with TestClient(create_app(busy)) as client:
        alice = register(client, "alice")
        gate = db._write_gate(settings.resolved_database_url().split("///", 1)[1])
        assert gate.acquire(timeout=5)  # another writer holds the file
        try:
            answer = client.post("/api/v1/observations", json=observation_body(),
                                 headers=alice)
            read = client.get("/api/v1/observations")
        finally:
            gate.release()
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["retry-after"]) > 0
        assert "nothing from this request was stored" in answer.json()["detail"]
        assert read.status_code == 200  # reads do not wait for writers
        assert client.post("/api/v1/observations", json=observation_body(),
                           headers=alice).status_code == 201
        assert [o["id"] for o in client.get("/api/v1/observations").json()["items"]] == ["T-1"]


def test_the_pool_serves_more_threads_than_the_server_runs(sqlite_only):
    engine = db.make_engine(sqlite_only)
    try:
        assert engine.pool.size() >= 40  # anyio's default thread pool
    finally:
        engine.dispose()
