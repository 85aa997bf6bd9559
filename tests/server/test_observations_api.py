"""The REST API for observations: posting, reading, versions, lists, and bad input."""

from __future__ import annotations

import json
import random

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from server.app import create_app
from server.db import session_for
from tests.conftest import observation_body, register

STORED_TABLES = ("observation", "observation_version", "run", "metric_series", "recipe",
                 "observation_tag", "observation_phenomenon", "verification_job")


def stored_rows(settings) -> dict[str, int]:
    with session_for(settings.resolved_database_url()) as session:
        return {t: session.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in STORED_TABLES}


def test_health_says_ok_and_version(client):
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["version"]


def test_fresh_registry_holds_the_eight_phenomena(client):
    slugs = {p["slug"] for p in client.get("/api/v1/phenomena").json()}
    assert slugs == {"grokking", "double-descent", "edge-of-stability", "superposition",
                     "neural-scaling", "emergence", "loss-parameterization", "feature-learning"}
    assert client.get("/api/v1/phenomena/grokking").json()["description"]


def test_post_then_read_by_every_id_form(client, alice):
    created = client.post("/api/v1/observations", json=observation_body(), headers=alice)
    assert created.status_code == 201, created.text
    record = created.json()
    assert (record["id"], record["version"], record["verdict"]) == ("T-1", 1, "unverified")
    assert record["author"]["handle"] == "alice"
    for ref in ("1", "T-1", "T-1v1", "t-1"):
        assert client.get(f"/api/v1/observations/{ref}").json()["ref"] == "T-1v1"


def test_twenty_series_of_5000_points_round_trip_exactly(client, alice):
    rng = random.Random(7)
    metrics = {f"s{i}": {"x": list(range(5000)), "y": [rng.random() * 10 ** rng.randint(-30, 30)
                                                       for _ in range(5000)]}
               for i in range(20)}
    body = observation_body(metrics=metrics, claims=["final(s0) > -1"])
    assert client.post("/api/v1/observations", json=body, headers=alice).status_code == 201
    back = client.get("/api/v1/observations/T-1/metrics").json()
    for name, series in metrics.items():
        assert back[name]["y"] == series["y"]  # == on floats: bit-exact after the trip
        assert back[name]["x"] == [float(v) for v in series["x"]]


def test_nan_in_y_travels_as_null(client, alice):
    body = observation_body(metrics={"loss": {"x": [0, 1, 2], "y": [1.0, None, 0.5]}},
                            claims=["min(loss) < 0.6"])
    assert client.post("/api/v1/observations", json=body, headers=alice).status_code == 201
    assert client.get("/api/v1/observations/T-1/metrics").json()["loss"]["y"] == [1.0, None, 0.5]


def test_spec_holds_all_that_a_rerun_needs(client, alice):
    source = "def run(config, log):\n    log(0, loss=1.0)\n"
    body = observation_body(recipe={"source": source, "entrypoint": "run"}, config={"lr": 0.1},
                            seed=3)
    client.post("/api/v1/observations", json=body, headers=alice)
    spec = client.get("/api/v1/observations/T-1/spec").json()
    assert spec["recipe"] == {"source": source, "entrypoint": "run"}
    assert (spec["config"], spec["seed"], spec["claims"]) == ({"lr": 0.1}, 3, body["claims"])
    assert spec["metrics"]["test_acc"]["y"] == body["metrics"]["test_acc"]["y"]


def test_new_version_leaves_the_old_one_unchanged(client, alice):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    v2 = client.post("/api/v1/observations/T-1/versions",
                     json={**observation_body(title="Sharper title"), "change_message": "retitle"},
                     headers=alice)
    assert v2.status_code == 201, v2.text
    assert v2.json()["ref"] == "T-1v2" and v2.json()["change_message"] == "retitle"
    assert client.get("/api/v1/observations/T-1v1").json()["title"] == "Grokking on modular addition"
    assert client.get("/api/v1/observations/T-1").json()["title"] == "Sharper title"
    assert [v["id"] for v in client.get("/api/v1/observations/T-1").json()["versions"]] == [
        "T-1v1", "T-1v2"]


def test_only_the_author_may_version(client, alice):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    bob = register(client, "bob")
    answer = client.post("/api/v1/observations/T-1/versions",
                         json={**observation_body(), "change_message": "mine now"}, headers=bob)
    assert answer.status_code == 403
    assert client.get("/api/v1/observations/T-1").json()["latest_version"] == 1


def test_list_filters_and_cursor_pages(client, alice):
    bob = register(client, "bob")
    for i in range(5):
        client.post("/api/v1/observations", json=observation_body(
            title=f"grok {i}", tags=["wd"] if i % 2 else []), headers=alice)
    client.post("/api/v1/observations", json=observation_body(
        title="a double descent peak", phenomena=["double-descent"]), headers=bob)
    first = client.get("/api/v1/observations?limit=4").json()
    assert [o["id"] for o in first["items"]] == ["T-6", "T-5", "T-4", "T-3"]
    second = client.get(f"/api/v1/observations?limit=4&cursor={first['next_cursor']}").json()
    assert [o["id"] for o in second["items"]] == ["T-2", "T-1"] and second["next_cursor"] is None
    assert [o["id"] for o in client.get("/api/v1/observations?tag=wd").json()["items"]] == ["T-4", "T-2"]
    assert [o["id"] for o in client.get(
        "/api/v1/observations?phenomenon=double-descent").json()["items"]] == ["T-6"]
    assert len(client.get("/api/v1/observations?author=alice").json()["items"]) == 5
    assert [o["id"] for o in client.get("/api/v1/observations?q=PEAK").json()["items"]] == ["T-6"]
    assert len(client.get("/api/v1/observations?verdict=unverified").json()["items"]) == 6
    assert client.get("/api/v1/observations?verdict=robust").json()["items"] == []


BAD_INPUTS = {
    "unknown phenomenon": (dict(phenomena=["grokk"]), 422, "unknown phenomenon 'grokk'"),
    "claim does not parse": (dict(claims=["final(test_acc >= 0.9"]), 422, "column 16"),
    "claim names a missing series": (dict(claims=["final(tst_acc) > 0.9"]), 422,
                                     "no series named 'tst_acc'"),
    "x and y lengths differ": (dict(metrics={"a": {"x": [0, 1], "y": [1.0]}}, claims=[]), 422,
                               "x has 2 values but y has 1"),
    "x not increasing": (dict(metrics={"a": {"x": [0, 0], "y": [1.0, 2.0]}}, claims=[]), 422,
                         "strictly increasing"),
    "NaN in x": (dict(metrics={"a": {"x": [0, float("nan")], "y": [1.0, 2.0]}}, claims=[]), 422,
                 "JSON has no NaN or Infinity"),
    "null in x": (dict(metrics={"a": {"x": [0, None], "y": [1.0, 2.0]}}, claims=[]), 422,
                  "x[1] must be a finite number"),
    "nested y": (dict(metrics={"a": {"x": [0, 1], "y": [[1.0], [2.0]]}}, claims=[]), 422,
                 "flat list of numbers"),
    "Infinity in config": (dict(config={"lr": float("inf")}), 422, "JSON has no NaN or Infinity"),
    "unknown built-in": (dict(recipe={"builtin": "nope"}), 422, "no built-in recipe 'nope'"),
    "bad tag": (dict(tags=["Not A Tag"]), 422, "not a tag"),
    "negative seed": (dict(seed=-1), 422, "seed"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_with_a_reason_and_nothing_stored(client, alice, settings, case):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    before = stored_rows(settings)
    overrides, status, message = BAD_INPUTS[case]
    answer = client.post("/api/v1/observations",
                         content=json.dumps(observation_body(**overrides)),
                         headers={**alice, "content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert message in answer.json()["detail"]
    assert stored_rows(settings) == before


def test_writes_need_a_valid_token(client, settings):
    before = stored_rows(settings)
    missing = client.post("/api/v1/observations", json=observation_body())
    wrong = client.post("/api/v1/observations", json=observation_body(),
                        headers={"Authorization": "Bearer tyc_not-a-token"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "Authorization: Bearer" in missing.json()["detail"]
    assert stored_rows(settings) == before


def test_worker_token_cannot_post(client, settings):
    from server.users.accounts import create_user_with_token, issue_token_for

    create_user_with_token(settings.resolved_database_url(), handle="w1")
    token = issue_token_for(settings.resolved_database_url(), handle="w1", scope="worker")
    answer = client.post("/api/v1/observations", json=observation_body(),
                         headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and "worker token" in answer.json()["detail"]


def test_body_over_the_limit_is_413_and_nothing_stored(settings, alice):
    small = settings.model_copy(update={"max_body_bytes": 2000})
    with TestClient(create_app(small)) as client:
        headers = register(client, "carol")
        before = stored_rows(small)
        big = observation_body(notes="x" * 5000)
        answer = client.post("/api/v1/observations", json=big, headers=headers)
        assert answer.status_code == 413
        assert "TYCHO_MAX_BODY_BYTES" in answer.json()["detail"]
        assert stored_rows(small) == before


def test_closed_registration(settings):
    closed = settings.model_copy(update={"open_registration": False})
    with TestClient(create_app(closed)) as client:
        answer = client.post("/api/v1/users", json={"handle": "dave"})
        assert answer.status_code == 403


def test_taken_handle_is_409(client, alice):
    assert client.post("/api/v1/users", json={"handle": "alice"}).status_code == 409


def test_unknown_observation_is_404_with_a_hint(client):
    assert client.get("/api/v1/observations/T-99").status_code == 404
    assert "T-42v2" in client.get("/api/v1/observations/banana").json()["detail"]


def test_admin_withdraws_and_lists_drop_it(client, alice, settings):
    from server.users.accounts import create_user_with_token

    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    admin = create_user_with_token(settings.resolved_database_url(), handle="root", admin=True)
    assert client.post("/api/v1/observations/T-1/withdraw", json={"reason": "duplicate"},
                       headers=alice).status_code == 403
    answer = client.post("/api/v1/observations/T-1/withdraw", json={"reason": "duplicate"},
                         headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 200 and answer.json()["withdrawn"]
    assert client.get("/api/v1/observations").json()["items"] == []


def test_source_that_reads_like_a_builtin_does_not_replace_it(client, alice):
    body = observation_body(recipe={"source": "builtin:grokking", "entrypoint": "run"})
    client.post("/api/v1/observations", json=body, headers=alice)
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    assert client.get("/api/v1/observations/T-2/spec").json()["recipe"] == {"builtin": "grokking"}
    assert client.get("/api/v1/observations/T-1/spec").json()["recipe"]["source"] == "builtin:grokking"


def test_a_chunked_body_over_the_limit_is_413(settings):
    small = settings.model_copy(update={"max_body_bytes": 2000})
    with TestClient(create_app(small)) as client:
        headers = register(client, "carol")
        chunks = (json.dumps(observation_body(notes="x" * 5000)).encode()[i:i + 500]
                  for i in range(0, 6000, 500))
        answer = client.post("/api/v1/observations", content=chunks,
                             headers={**headers, "content-type": "application/json"})
        assert answer.status_code == 413


@pytest.mark.parametrize("cursor", ["²", "9" * 30, "-1", "abc"])
def test_a_bad_cursor_is_422_not_500(client, cursor):
    answer = client.get("/api/v1/observations", params={"cursor": cursor})
    assert answer.status_code == 422 and "cursor" in answer.json()["detail"]


def test_text_search_treats_wildcards_as_text(client, alice):
    client.post("/api/v1/observations", json=observation_body(title="plain"), headers=alice)
    client.post("/api/v1/observations", json=observation_body(title="100% accuracy"),
                headers=alice)
    found = client.get("/api/v1/observations", params={"q": "%"}).json()["items"]
    assert [o["title"] for o in found] == ["100% accuracy"]


def test_withdrawing_cancels_the_pending_verification(client, alice, settings):
    from server.users.accounts import create_user_with_token

    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    admin = create_user_with_token(settings.resolved_database_url(), handle="root", admin=True)
    client.post("/api/v1/observations/T-1/withdraw", json={"reason": "mistake"},
                headers={"Authorization": f"Bearer {admin}"})
    assert client.get("/api/v1/observations/T-1").json()["verification"]["status"] == "cancelled"
