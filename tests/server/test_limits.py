"""Request bodies over their limit, and gzip-compressed ones (issue 11, item 10): a
worker's result may be larger than any other body and arrive compressed; a gzip bomb
is stopped at the limit, and a broken or foreign encoding is a 4xx, never a 500."""

from __future__ import annotations

import gzip
import json

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from tests.conftest import observation_body
from tests.server.test_hostile_input import assert_problem
from tests.server.test_queue import completion, worker_headers

LIMIT = 16_384


@pytest.fixture
def small(settings):
    """An app whose general body limit is 16 KB, and a worker's result's 64 KB."""
    settings = settings.model_copy(update={"max_body_bytes": LIMIT,
                                           "max_result_bytes": 4 * LIMIT})
    with TestClient(create_app(settings)) as client:
        yield client, settings


def claimed(client, settings) -> tuple[int, dict]:
    author = client.post("/api/v1/users", json={"handle": "alice"}).json()["token"]
    response = client.post("/api/v1/observations", json=observation_body(),
                           headers={"Authorization": f"Bearer {author}"})
    assert response.status_code == 201, response.text
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w"}, headers=worker).json()
    return job["job_id"], worker


def big_completion(points: int) -> dict:
    body = completion("w")
    for run in body["runs"]:
        run["metrics"]["test_acc"] = {"x": list(range(points)), "y": [0.5] * points}
    return body


def gzipped(body: dict) -> bytes:
    return gzip.compress(json.dumps(body).encode())


def send(client, url: str, content: bytes, headers: dict, encoding: str = "gzip"):
    return client.post(url, content=content, headers={
        **headers, "content-type": "application/json", "content-encoding": encoding})


def test_a_gzip_result_over_the_general_limit_is_recorded(small):
    client, settings = small
    job, worker = claimed(client, settings)
    body = big_completion(1500)  # ~40 KB of JSON: over 16 KB, under 64 KB
    assert LIMIT < len(json.dumps(body)) < 4 * LIMIT
    response = send(client, f"/api/v1/jobs/{job}/complete", gzipped(body), worker)
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "robust"


def test_other_routes_keep_the_general_limit_even_compressed(small):
    client, _ = small
    body = {"handle": "bob", "display_name": "x" * (2 * LIMIT)}
    response = send(client, "/api/v1/users", gzipped(body), {})
    assert_problem(response, 413, "TYCHO_MAX_BODY_BYTES")


def test_a_result_over_the_result_limit_is_413_naming_its_setting(small):
    client, settings = small
    job, worker = claimed(client, settings)
    response = send(client, f"/api/v1/jobs/{job}/complete", gzipped(big_completion(20_000)),
                    worker)
    assert_problem(response, 413, "TYCHO_MAX_RESULT_BYTES")


def test_a_gzip_bomb_is_stopped_at_the_limit(small):
    client, settings = small
    job, worker = claimed(client, settings)
    bomb = gzip.compress(b" " * (32 * 1024 * 1024))  # 32 MB of spaces in ~32 KB
    assert len(bomb) < 4 * LIMIT
    response = send(client, f"/api/v1/jobs/{job}/complete", bomb, worker)
    assert_problem(response, 413, "once decompressed")


@pytest.mark.parametrize("content, encoding, status", [
    (b"not gzip at all", "gzip", 400),
    (gzip.compress(b'{"worker_id": "w"}')[:-12], "gzip", 400),  # truncated
    (b'{"worker_id": "w"}', "br", 415),
])
def test_a_broken_or_unknown_encoding_is_a_4xx(small, content, encoding, status):
    client, settings = small
    job, worker = claimed(client, settings)
    response = send(client, f"/api/v1/jobs/{job}/complete", content, worker, encoding)
    assert_problem(response, status)
