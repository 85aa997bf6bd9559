"""Hostile input gets a 4xx problem+json and stores nothing; it never reaches the
database as a 500 (issue 11, items 7 and 9). Each runs on SQLite and on Postgres,
where NUL bytes and `Infinity` used to fail inside the database."""

from __future__ import annotations

import gzip
import json
import math

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from runner.spec import JobComplete, ObservationCreate
from server.db import session_for
from server.users.accounts import create_user_with_token
from tests.conftest import observation_body
from tests.server.test_queue import completion, worker_headers

HUGE = "99999999999999999999"  # > 2**63
INT4 = "2147483648"  # 2**31: past Postgres INTEGER, which holds every row id


def stored(settings, table: str) -> int:
    with session_for(settings.resolved_database_url()) as session:
        return session.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()


def assert_problem(response, status: int | tuple[int, ...], says: str = "") -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"], response.json()["detail"]


def raw_post(client, url: str, body: str, headers: dict):
    """POST a body as written: JSON with tokens json.dumps would never write (NaN)."""
    return client.post(url, content=body.encode(),
                       headers={**headers, "content-type": "application/json"})


@pytest.fixture
def posted(client, alice):
    response = client.post("/api/v1/observations", json=observation_body(), headers=alice)
    assert response.status_code == 201, response.text
    return response.json()


# --- item 7: free-form JSON is bounded at validation, before anything is written ----------


def nested(depth: int) -> dict:
    root = current = {}
    for _ in range(depth - 1):
        current["a"] = {}
        current = current["a"]
    return root


def test_a_config_nested_260_deep_is_refused_and_nothing_is_stored(client, alice, settings):
    response = client.post("/api/v1/observations", json=observation_body(config=nested(260)),
                           headers=alice)
    assert_problem(response, 422, "nested more than 32 levels deep")
    assert response.json()["errors"][0]["location"] == "config"
    assert (stored(settings, "observation"), stored(settings, "observation_version")) == (0, 0)
    # And what is stored can be read back: the record, the spec and a worker's claim.
    ok = client.post("/api/v1/observations", json=observation_body(config=nested(32)),
                     headers=alice)
    assert ok.status_code == 201, ok.text
    assert client.get("/api/v1/observations/T-1/spec").status_code == 200
    claim = client.post("/api/v1/jobs/claim", json={"worker_id": "w"},
                        headers=worker_headers(settings))
    assert claim.status_code == 200 and claim.json()["spec"]["config"] == nested(32)


@pytest.mark.parametrize("field, value, says", [
    ("config", {"widths": list(range(20_000))}, "more than 10,000 values"),
    ("config", {"blob": "x" * 70_000}, "bytes of JSON"),
    ("config", {"n": 2**63}, "does not fit in 64 bits"),  # (orjson reads > 2**64 as a float)
    ("environment", {"python": "3.11", "extra": nested(40)}, "levels deep"),
])
def test_every_free_form_json_field_is_bounded(client, alice, settings, field, value, says):
    response = client.post("/api/v1/observations", json=observation_body(**{field: value}),
                           headers=alice)
    assert_problem(response, 422, says)
    assert stored(settings, "observation") == 0


# --- item 9: bad input is a 4xx problem+json ---------------------------------------------


@pytest.mark.parametrize("method, url", [
    ("GET", f"/api/v1/observations/{HUGE}"),
    ("GET", f"/api/v1/observations/T-{HUGE}v1/metrics"),
    ("GET", f"/api/v1/observations/T-1v{HUGE}/spec"),
    ("GET", f"/api/v1/observations/{'9' * 5000}"),
    ("GET", f"/api/v1/comments/{HUGE}/history"),
    ("PATCH", f"/api/v1/comments/{HUGE}"),
    ("DELETE", f"/api/v1/comments/{HUGE}"),
    ("POST", f"/api/v1/jobs/{HUGE}/heartbeat"),
    ("POST", f"/api/v1/jobs/{HUGE}/complete"),
    ("POST", f"/api/v1/jobs/{HUGE}/fail"),
    ("POST", f"/api/v1/jobs/{HUGE}/release"),
    ("GET", f"/T-{HUGE}"),
    ("GET", f"/T-1v{HUGE}"),
    ("GET", f"/observations?cursor={HUGE}"),
    ("GET", f"/feeds/observations/T-{HUGE}.atom"),
    # Found by schemathesis on Postgres: ids fit 64 bits but not the INTEGER column.
    ("GET", f"/api/v1/observations?cursor={INT4}"),
    ("GET", f"/api/v1/phenomena/grokking?cursor={INT4}"),
    ("GET", f"/api/v1/observations/T-{INT4}"),
    ("GET", f"/api/v1/observations/T-1v{INT4}/spec"),
    ("GET", f"/api/v1/comments/{INT4}/history"),
    ("POST", f"/api/v1/jobs/{INT4}/heartbeat"),
    ("GET", f"/T-{INT4}"),
    ("GET", f"/observations?cursor={INT4}"),
])
def test_ids_beyond_64_bits_are_not_found_or_invalid(client, settings, posted, method, url):
    # An admin token may write, work and administer: the id, not the scope, is refused.
    token = create_user_with_token(settings.resolved_database_url(), handle="root", admin=True)
    body = {"worker_id": "w", "reason": "r", "body": "b", "runs": [], "verdict": "robust"}
    response = client.request(method, url, headers={"Authorization": f"Bearer {token}"},
                              json=body if method in ("POST", "PATCH") else None)
    assert response.status_code in (404, 422), (url, response.status_code, response.text[:300])


@pytest.mark.parametrize("parent", [int(HUGE), int(INT4)])
def test_a_reply_to_a_parent_beyond_the_id_column_is_invalid(client, alice, posted, settings,
                                                             parent):
    response = client.post("/api/v1/observations/T-1/comments", headers=alice,
                           json={"body": "hi", "parent": parent})
    assert_problem(response, 422, "parent")
    assert stored(settings, "comment") == 0


def test_a_seed_up_to_2_to_the_32_is_stored(client, alice, settings):
    # A seed is below 2**32; the seed columns were Postgres INTEGERs (a 500 from 2**31).
    response = client.post("/api/v1/observations", json=observation_body(seed=2**32 - 1),
                           headers=alice)
    assert response.status_code == 201, response.text
    assert client.get("/api/v1/observations/T-1/spec").json()["seed"] == 2**32 - 1
    assert_problem(client.post("/api/v1/observations", json=observation_body(seed=2**32),
                               headers=alice), 422, "seed")


def test_a_series_given_as_nested_lists_is_invalid(client, alice, settings):
    for y in ('[[1, 1], [1, 1], [1, null], [1, 1]]',  # null past the series' length: a crash
              '[[0.1, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]',
              '[[[0.1]], [[1.0]], [[1.0]], [[1.0]]]'):
        body = observation_body()
        body["metrics"]["train_acc"]["y"] = "Y"
        response = raw_post(client, "/api/v1/observations", json.dumps(body).replace('"Y"', y),
                            alice)
        assert_problem(response, 422, "metrics.train_acc.y")
    assert stored(settings, "observation") == 0


NUL = "a\x00b"


@pytest.mark.parametrize("url, body", [
    ("/api/v1/observations", observation_body(title=NUL)),
    ("/api/v1/observations", observation_body(notes=NUL)),
    ("/api/v1/observations", observation_body(tags=[NUL])),
    ("/api/v1/observations", observation_body(phenomena=[NUL])),
    ("/api/v1/observations", observation_body(config={"k": NUL})),
    ("/api/v1/observations", observation_body(config={NUL: 1})),
    ("/api/v1/observations", observation_body(environment={"python": NUL})),
    ("/api/v1/observations", observation_body(recipe={"source": f"def run(c, l):\n  '{NUL}'"})),
    ("/api/v1/observations/T-1/comments", {"body": NUL}),
    ("/api/v1/observations/T-1/comments", {"body": "x", "series": NUL}),
    ("/api/v1/observations/T-1/links", {"relation": "explains", "phenomenon": NUL}),
    ("/api/v1/observations/T-1/links", {"relation": "explains", "external": f"http://{NUL}"}),
    ("/api/v1/observations/T-1/links", {"relation": "explains", "external": "arXiv:2201.02177",
                                        "note": NUL}),
    ("/api/v1/phenomena", {"slug": "nul", "name": NUL}),
    ("/api/v1/phenomena", {"slug": "nul", "name": "Nul", "description": NUL}),
    ("/api/v1/users", {"handle": "nul", "display_name": NUL}),
    ("/api/v1/observations/T-1/versions", {**observation_body(), "change_message": NUL}),
])
def test_a_nul_in_any_text_field_is_invalid(client, alice, settings, posted, url, body):
    response = client.post(url, json=body, headers=alice)
    assert_problem(response, 422, "NUL")
    assert stored(settings, "observation_version") == 1
    assert stored(settings, "comment") == stored(settings, "link") == 0


@pytest.mark.parametrize("url", [
    "/api/v1/observations?q=a%00b", "/api/v1/observations?tag=a%00b",
    "/api/v1/users/a%00b", "/api/v1/phenomena/a%00b", "/observations?author=a%00b",
    "/users/a%00b", "/feeds/phenomena/a%00b.atom",
])
def test_a_nul_in_a_url_is_a_bad_request(client, url):
    assert_problem(client.get(url), 400, "NUL")


def test_a_nul_from_a_worker_is_replaced_and_its_id_refused(client, alice, settings, posted):
    worker = worker_headers(settings)
    claimed = client.post("/api/v1/jobs/claim", json={"worker_id": NUL}, headers=worker)
    assert_problem(claimed, 422, "NUL")
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    result = completion("w1")
    result["runs"][0]["log_tail"] = "printed \x00 by a recipe"
    result["runs"][0]["error"] = "\x00"
    done = client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=result, headers=worker)
    assert done.status_code == 200, done.text
    run = client.get("/api/v1/observations/T-1").json()["runs"][1]
    assert run["error"] == "\ufffd"


def test_infinity_in_free_form_json_is_invalid(client, alice, settings):
    for where in ("environment", "config"):
        body = json.dumps(observation_body(**{where: {"python": "3.11", "x": 1.5}}))
        response = raw_post(client, "/api/v1/observations", body.replace("1.5", "Infinity"),
                            alice)
        assert_problem(response, 422, "JSON has no NaN or Infinity")
        # As a Python caller may build it, past the JSON parser.
        with pytest.raises(ValidationError, match="is not allowed; use a finite number"):
            ObservationCreate.model_validate(observation_body(**{where: {"x": math.inf}}))
    assert stored(settings, "observation") == 0


def test_infinity_from_a_worker_is_stored_as_null(client, alice, settings, posted):
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    result = completion("w1")
    result["runs"][0]["claims"] = [{"claim": "final(test_acc) >= 0.95", "holds": True,
                                    "detail": "huge", "values": ["INF", 0.95]}]
    result["comparisons"] = [{"name": "test_acc", "exact": False, "max_abs_diff": "INF",
                              "max_rel_diff": "NAN"}]
    body = json.dumps(result).replace('"INF"', "Infinity").replace('"NAN"', "NaN")
    url = f"/api/v1/jobs/{job['job_id']}/complete"
    assert_problem(raw_post(client, url, body, worker), 422, "JSON has no NaN or Infinity")
    # The worker's client writes a result as pydantic does: a non-finite number as null.
    result = JobComplete.model_validate_json(body)
    done = client.post(url, content=gzip.compress(result.model_dump_json().encode()),
                       headers={**worker, "content-type": "application/json",
                                "content-encoding": "gzip"})
    assert done.status_code == 200, done.text
    record = client.get("/api/v1/observations/T-1")
    assert record.status_code == 200
    assert record.json()["comparisons"][0]["max_abs_diff"] is None
    assert record.json()["runs"][1]["claims"][0]["values"] == [None, 0.95]


def test_a_phenomenon_name_with_a_control_character_is_invalid(client, alice, settings):
    response = client.post("/api/v1/phenomena", headers=alice,
                           json={"slug": "ctrl", "name": "Bell\x07"})
    assert_problem(response, 422, "control characters")
    assert client.get("/feeds/phenomena/ctrl.atom").status_code == 404


def test_the_feed_of_a_phenomenon_stored_with_a_control_character_still_answers(
        client, settings):
    # As a registry from before the check may hold it.
    with session_for(settings.resolved_database_url()) as session:
        session.execute(text("UPDATE phenomenon SET name = :n, description = :d "
                             "WHERE slug = 'grokking'"),
                        {"n": "Grok\x01king\x1b", "d": "\x02 bad"})
    feed = client.get("/feeds/phenomena/grokking.atom")
    assert feed.status_code == 200 and "Grokking" in feed.text
    assert client.get("/phenomena/grokking").status_code == 200


@pytest.mark.parametrize("x", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_comment_anchored_at_a_non_finite_x_is_invalid(client, alice, settings, posted, x):
    body = json.dumps({"body": "here", "series": "test_acc", "x": 12345.5})
    response = raw_post(client, "/api/v1/observations/T-1/comments",
                        body.replace("12345.5", x), alice)
    assert_problem(response, 422, "x: ")
    assert stored(settings, "comment") == 0
