"""Stored records (server/observations/stored.py): a record is rendered once per change,
and what GET answers is always what rendering it afresh would give."""

from __future__ import annotations

import ast
from pathlib import Path

import orjson
from sqlalchemy import text

from server.db import session_for
from server.observations.queries import find_version
from server.observations.records import observation_record
from server.users.accounts import create_user_with_token
from tests.conftest import observation_body, register
from tests.server.test_queue import completion, worker_headers

ROOT = Path(__file__).resolve().parents[2]


def fresh(settings, ref: str) -> dict:
    """The record of `ref` rendered from the database now, as the code renders it."""
    with session_for(settings.resolved_database_url()) as session:
        observation, version = find_version(session=session, ref=ref)
        record = observation_record(session=session, observation=observation,
                                    version=version, public_url=settings.public_url)
        return orjson.loads(record.model_dump_json())


def without_clock(record: dict) -> dict:
    """A record less the estimate of time left, which moves between two reads."""
    status = record.get("verification")
    if status:
        record["verification"] = {**status, "eta_s": None}
    return record


def assert_current(client, settings, refs: list[str], after: str) -> None:
    for ref in refs:
        answer = client.get(f"/api/v1/observations/{ref}")
        assert answer.status_code == 200, answer.text
        assert without_clock(answer.json()) == without_clock(fresh(settings, ref)), (
            f"the stored record of {ref} is stale after {after}")


def stored_rows(settings) -> int:
    with session_for(settings.resolved_database_url()) as session:
        return session.execute(text("SELECT COUNT(*) FROM stored_record")).scalar_one()


def test_a_read_answers_the_stored_record_and_renders_it_once(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    assert stored_rows(settings) == 1  # the POST's answer was rendered and stored
    # Change the stored bytes behind the server's back (no write bumps the revision):
    # the next reads answer them, so a read does not render the record again.
    with session_for(settings.resolved_database_url()) as session:
        body = session.execute(text("SELECT body FROM stored_record")).scalar_one()
        session.execute(text("UPDATE stored_record SET body = :b"),
                        {"b": bytes(body).replace(b'"title":"', b'"title":"STORED ')})
        session.commit()
    assert client.get("/api/v1/observations/T-1").json()["title"].startswith("STORED ")
    assert "STORED " in client.get("/T-1").text  # the page shows the same record


def test_every_write_a_record_shows_makes_its_stored_record_current_again(
        client, alice, settings):
    bob = register(client, "bob")
    admin = {"Authorization": "Bearer " + create_user_with_token(
        settings.resolved_database_url(), handle="root", admin=True)}
    worker = worker_headers(settings)
    for headers, title in ((alice, "Grokking at wd 1"), (bob, "A second look")):
        assert client.post("/api/v1/observations", json=observation_body(title=title),
                           headers=headers).status_code == 201
    refs = ["T-1", "T-2"]
    assert_current(client, settings, refs, "posting")

    def write(answer, what: str, *also: str) -> dict:
        assert answer.status_code < 300, answer.text
        assert_current(client, settings, [*refs, *also], what)
        return answer.json() if answer.content else {}

    write(client.post("/api/v1/observations/T-2/links",
                      json={"relation": "reproduces", "target": "T-1", "note": "same"},
                      headers=bob), "a link into T-1 (its reproductions and incoming links)")
    write(client.post("/api/v1/observations/T-1/links",
                      json={"relation": "applies", "phenomenon": "grokking"}, headers=alice),
          "a link to a phenomenon")
    comment = write(client.post("/api/v1/observations/T-1/comments",
                                json={"body": "how many seeds?"}, headers=bob), "a comment")
    write(client.post("/api/v1/observations/T-1/comments",
                      json={"body": "five", "parent": comment["id"]}, headers=alice), "a reply")
    write(client.patch(f"/api/v1/comments/{comment['id']}",
                       json={"body": "how many fresh seeds?"}, headers=bob), "an edit")
    write(client.delete(f"/api/v1/comments/{comment['id']}", headers=bob), "a deletion")
    job = write(client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker),
                "a claim")
    write(client.post(f"/api/v1/jobs/{job['job_id']}/heartbeat",
                      json={"worker_id": "w1"}, headers=worker), "a heartbeat")
    write(client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=completion("w1"),
                      headers=worker), "a verdict (runs, pass rates)")
    body = {**observation_body(title="Grokking at wd 1, longer"), "change_message": "more"}
    write(client.post("/api/v1/observations/T-1/versions", json=body, headers=alice),
          "a new version (the older one is no longer the latest)", "T-1v1", "T-1v2")
    write(client.post("/api/v1/observations/T-1/verify", headers=admin), "a re-verification",
          "T-1v1")
    write(client.post("/api/v1/observations/T-2/withdraw", json={"reason": "duplicate"},
                      headers=admin), "a withdrawal", "T-1v1")


def test_a_stored_record_of_other_code_or_another_address_is_not_answered(
        client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    with session_for(settings.resolved_database_url()) as session:
        session.execute(text("UPDATE stored_record SET body = :b, format = 'older code'"),
                        {"b": b'{"title":"old"}'})
        session.commit()
    assert client.get("/api/v1/observations/T-1").json()["title"] != "old"
    with session_for(settings.resolved_database_url()) as session:
        session.execute(text("UPDATE stored_record SET body = :b, public_url = 'http://x'"),
                        {"b": b'{"title":"old"}'})
        session.commit()
    assert client.get("/api/v1/observations/T-1").json()["title"] != "old"


def test_bulk_writes_touch_only_tables_no_record_shows():
    """An UPDATE or DELETE statement bypasses the flush that bumps revisions: server code
    may issue one only on a table no record shows."""
    allowed = {"VerificationJob", "StoredRecord"}
    found = []
    for path in (ROOT / "server").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in {"update", "delete"} and node.args):
                target = node.args[0]
                name = target.id if isinstance(target, ast.Name) else ast.unparse(target)
                found.append((path.relative_to(ROOT).as_posix(), name))
    assert found, "the scan finds the queue's bulk updates"
    assert {name for _, name in found} - allowed - {"Observation.__table__"} == set(), found
