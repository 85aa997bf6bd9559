"""The verification queue through the worker protocol: claim, heartbeat, complete, fail."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from runner.spec import JobComplete, RunResult, Verdict
from server.db import make_engine, session_for
from server.models import utcnow
from runner.spec import verification_seeds
from server.verification.queue import RetryPolicy
from server.users.accounts import create_user_with_token, issue_token_for
from tests.conftest import observation_body


def worker_headers(settings, handle="worker") -> dict[str, str]:
    url = settings.resolved_database_url()
    create_user_with_token(url, handle=handle)
    return {"Authorization": f"Bearer {issue_token_for(url, handle=handle, scope='worker')}"}


def lapse_leases(settings) -> None:
    """Move every lease into the past, as if the worker stopped heart-beating."""
    with session_for(settings.resolved_database_url()) as session:
        session.execute(text("UPDATE verification_job SET lease_expires_at = :t"),
                        {"t": utcnow() - timedelta(seconds=5)})


def completion(worker_id: str, verdict: Verdict = Verdict.robust) -> dict:
    runs = [RunResult(status="ok", seed=s, metrics={"test_acc": {"x": [0, 1], "y": [0.5, 0.99]}})
            for s in (0, 1, 2)]
    body = JobComplete(worker_id=worker_id, runs=runs, verdict=verdict, reason="all hold",
                       pass_rates={"final(test_acc) >= 0.95": 1.0})
    return body.model_dump(mode="json")


def test_posting_queues_one_job_with_the_original_seed_first(client, alice, settings):
    record = client.post("/api/v1/observations", json=observation_body(seed=7), headers=alice).json()
    assert record["verification"]["status"] == "queued"
    assert record["verification"]["seeds"] == verification_seeds(7, settings.verify_seeds) == [7, 8, 9]


def test_a_job_is_claimed_once(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    first = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker)
    second = client.post("/api/v1/jobs/claim", json={"worker_id": "w2"}, headers=worker)
    assert first.status_code == 200 and first.json()["observation"] == "T-1v1"
    assert first.json()["spec"]["recipe"] == {"builtin": "grokking"}
    assert second.status_code == 204


def test_claiming_needs_a_worker_token(client, alice):
    answer = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=alice)
    assert answer.status_code == 403


def test_complete_records_runs_and_verdict(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    done = client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=completion("w1"),
                       headers=worker)
    assert done.status_code == 200 and done.json()["verdict"] == "robust"
    record = client.get("/api/v1/observations/T-1").json()
    assert record["verdict"] == "robust" and record["pass_rates"]
    assert [r["kind"] for r in record["runs"]] == ["author"] + ["verification"] * 3
    assert record["verification"]["status"] == "done"
    assert [o["id"] for o in client.get("/api/v1/observations?verdict=robust").json()["items"]] == ["T-1"]


def test_a_lapsed_lease_is_requeued_and_the_late_result_refused(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "slow"}, headers=worker).json()
    lapse_leases(settings)
    # The lease lapsed: the next claim hands the job to another worker.
    again = client.post("/api/v1/jobs/claim", json={"worker_id": "fast"}, headers=worker)
    assert again.status_code == 200 and again.json()["job_id"] == job["job_id"]
    late = client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=completion("slow"),
                       headers=worker)
    assert late.status_code == 409 and "lease" in late.json()["detail"]
    assert client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=completion("fast"),
                       headers=worker).status_code == 200
    # Recorded once: one set of verification runs.
    runs = client.get("/api/v1/observations/T-1").json()["runs"]
    assert [r["worker_id"] for r in runs if r["kind"] == "verification"] == ["fast"] * 3


def test_heartbeat_extends_and_refuses_a_stranger(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    beat = client.post(f"/api/v1/jobs/{job['job_id']}/heartbeat", json={"worker_id": "w1"},
                       headers=worker)
    assert beat.status_code == 200 and beat.json()["cancelled"] is False
    stranger = client.post(f"/api/v1/jobs/{job['job_id']}/heartbeat", json={"worker_id": "w9"},
                           headers=worker)
    assert stranger.status_code == 409


def test_failures_retry_then_end_in_error_with_the_reasons(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    for attempt in range(1, settings.max_attempts + 1):
        with session_for(settings.resolved_database_url()) as session:  # skip the back-off
            session.execute(text("UPDATE verification_job SET not_before = NULL"))
        job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
        answer = client.post(f"/api/v1/jobs/{job['job_id']}/fail",
                             json={"worker_id": "w1", "reason": f"crash {attempt}"}, headers=worker)
        assert answer.json()["attempts"] == attempt
    record = client.get("/api/v1/observations/T-1").json()
    assert record["verdict"] == "error"
    assert "crash 1" in record["verdict_reason"] and "crash 3" in record["verdict_reason"]
    assert client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).status_code == 204


def test_a_released_job_goes_back_without_using_an_attempt(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    client.post(f"/api/v1/jobs/{job['job_id']}/release", json={"worker_id": "w1"}, headers=worker)
    again = client.post("/api/v1/jobs/claim", json={"worker_id": "w2"}, headers=worker)
    assert again.status_code == 200
    status = client.get("/api/v1/observations/T-1").json()["verification"]
    assert status["attempts"] == 1 and status["worker"] == "w2"


def test_admin_reverification_cancels_the_open_job(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    admin = create_user_with_token(settings.resolved_database_url(), handle="root", admin=True)
    queued = client.post("/api/v1/observations/T-1/verify",
                         headers={"Authorization": f"Bearer {admin}"})
    assert queued.status_code == 202 and queued.json()["queued"]
    beat = client.post(f"/api/v1/jobs/{job['job_id']}/heartbeat", json={"worker_id": "w1"},
                       headers=worker)
    assert beat.json()["cancelled"] is True
    assert client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=completion("w1"),
                       headers=worker).status_code == 409


def test_submitted_code_is_unverifiable_where_the_registry_does_not_run_it(settings, alice):
    from fastapi.testclient import TestClient

    from server.app import create_app
    from tests.conftest import register

    closed = settings.model_copy(update={"verify_submitted_code": False})
    with TestClient(create_app(closed)) as client:
        headers = register(client, "erin")
        body = observation_body(recipe={"source": "def run(config, log):\n    pass\n"})
        record = client.post("/api/v1/observations", json=body, headers=headers).json()
        assert record["verdict"] == "unverifiable" and record["verification"] is None
        assert "TYCHO_VERIFY_SUBMITTED_CODE" in record["verdict_reason"]


def test_retry_policy_backs_off_then_gives_up():
    policy = RetryPolicy(max_attempts=3, backoff_base_seconds=5, backoff_max_seconds=8)
    assert [policy.next_delay(n) for n in (1, 2, 3)] == [5, 8, None]


def test_concurrent_claimers_of_a_lapsed_job_lease_it_once(client, alice, settings):
    import threading

    from sqlmodel import Session

    from server.verification.queue import claim_job

    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    client.post("/api/v1/jobs/claim", json={"worker_id": "dead"}, headers=worker)
    lapse_leases(settings)
    engine = make_engine(settings.resolved_database_url())
    start = threading.Barrier(4)
    won: list[str] = []

    def claimer(name: str) -> None:
        with Session(engine) as session:
            start.wait()
            job = claim_job(session=session, worker_id=name, lease_seconds=60,
                            policy=RetryPolicy(max_attempts=5))
            session.commit()
            if job is not None:
                won.append(name)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    status = client.get("/api/v1/observations/T-1").json()["verification"]
    assert len(won) == 1 and status["worker"] == won[0]
    assert status["attempts"] == 2 and len(status["failures"]) == 1


def test_only_the_claiming_account_may_report_on_a_job(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    owner, other = worker_headers(settings, "owner"), worker_headers(settings, "other")
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=owner).json()
    for action, body in (("heartbeat", {"worker_id": "w1"}), ("release", {"worker_id": "w1"}),
                         ("complete", completion("w1"))):
        answer = client.post(f"/api/v1/jobs/{job['job_id']}/{action}", json=body, headers=other)
        assert answer.status_code == 403, action
    assert client.get("/api/v1/observations/T-1").json()["verification"]["status"] == "running"


def test_a_result_must_hold_one_run_per_assigned_seed(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    body = completion("w1")
    body["runs"] = body["runs"][:1]  # only the original seed
    answer = client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=body, headers=worker)
    assert answer.status_code == 422 and "assigned seeds [0, 1, 2]" in answer.json()["detail"]
    assert client.get("/api/v1/observations/T-1").json()["verdict"] == "unverified"


def claim_order(client, worker, count: int) -> list[str]:
    """The observations of the next `count` claims, each completed before the next claim."""
    order = []
    for i in range(count):
        job = client.post("/api/v1/jobs/claim", json={"worker_id": "w"}, headers=worker).json()
        order.append(job["observation"])
        client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=completion("w"),
                    headers=worker)
    return order


def test_many_queued_jobs_of_one_author_delay_another_authors_job_by_at_most_one(
        client, alice, settings):
    from tests.conftest import register

    for seed in range(6):  # T-1 .. T-6, all alice's (each its own spec: no shared job)
        client.post("/api/v1/observations", json=observation_body(seed=seed), headers=alice)
    worker = worker_headers(settings)
    first = client.post("/api/v1/jobs/claim", json={"worker_id": "w"}, headers=worker).json()
    bob = register(client, "bob")
    client.post("/api/v1/observations", json=observation_body(seed=6), headers=bob)  # T-7
    queued = client.get("/api/v1/observations/T-7").json()["verification"]
    assert queued["status"] == "queued" and queued["position"] == 0  # next, though newest
    assert client.get("/api/v1/observations/T-3").json()["verification"]["position"] == 2
    client.post(f"/api/v1/jobs/{first['job_id']}/complete", json=completion("w"), headers=worker)
    # alice's T-1 was running when bob posted: bob's job comes next, then alice's in turn.
    assert claim_order(client, worker, 6) == ["T-7v1", "T-2v1", "T-3v1", "T-4v1", "T-5v1",
                                              "T-6v1"]


def test_every_queued_position_is_its_place_in_the_claim_order(client, alice, settings):
    """The record counts the jobs ahead (server/verification/status.py); the queue leases
    in ready_order. Across authors, turns and a background job, the two agree."""
    from server.models import VerificationJob
    from server.verification.queue import ready_order
    from tests.conftest import register

    bob = register(client, "bob")
    for seed, headers in enumerate((alice, alice, alice, bob, bob, alice)):
        client.post("/api/v1/observations", json=observation_body(seed=seed), headers=headers)
    with session_for(settings.resolved_database_url()) as session:  # T-1 in the background
        job = session.execute(text("SELECT MIN(id) FROM verification_job")).scalar_one()
        session.get(VerificationJob, job).priority = 1
    with session_for(settings.resolved_database_url()) as session:
        order = session.execute(ready_order(utcnow())).scalars().all()
    shown = {}
    for number in range(1, 7):
        status = client.get(f"/api/v1/observations/T-{number}").json()["verification"]
        shown[status["job"]] = status["position"]
    assert shown == {job: place for place, job in enumerate(order)}
    assert order[-1] == job  # the background job last, though first in its author's turns


def test_round_robin_across_authors_then_oldest_first(client, alice, settings):
    from tests.conftest import register

    bob = register(client, "bob")
    for seed, headers in enumerate((alice, alice, alice, bob, bob)):  # T-1..3 alice, T-4..5 bob
        client.post("/api/v1/observations", json=observation_body(seed=seed), headers=headers)
    assert claim_order(client, worker_headers(settings), 5) == [
        "T-1v1", "T-4v1", "T-2v1", "T-5v1", "T-3v1"]


def test_background_jobs_do_not_hold_back_a_persons_first_post(settings):
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.initial_data import CANONICAL_DIR, seed_canonical
    from tests.conftest import register

    with session_for(settings.resolved_database_url()) as session:
        canonical = seed_canonical(session=session, settings=settings)
    assert len(canonical) == len(list(CANONICAL_DIR.glob("*.json")))  # phenomena and sweeps
    with TestClient(create_app(settings)) as client:
        alice = register(client, "alice")
        mine = client.post("/api/v1/observations", json=observation_body(), headers=alice).json()
        assert mine["verification"]["position"] == 0
        job = client.post("/api/v1/jobs/claim", json={"worker_id": "w"},
                          headers=worker_headers(settings)).json()
        assert job["observation"] == f"{mine['id']}v1"


def test_a_heartbeat_carries_progress_that_the_record_shows(client, alice, settings):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    progress = {"seeds": [{"seed": 0, "state": "running", "done": 690, "total": 1000,
                           "elapsed_s": 69.0, "eta_s": 31.0},
                          {"seed": 1, "state": "done", "done": 1000, "total": 1000},
                          {"seed": 2, "state": "queued"}], "eta_s": 95.0}
    beat = client.post(f"/api/v1/jobs/{job['job_id']}/heartbeat",
                       json={"worker_id": "w1", "progress": progress}, headers=worker)
    assert beat.status_code == 200
    status = client.get("/api/v1/observations/T-1").json()["verification"]
    assert status["status"] == "running"
    assert [(s["seed"], s["state"], s["done"]) for s in status["progress"]["seeds"]] == [
        (0, "running", 690.0), (1, "done", 1000.0), (2, "queued", None)]
    assert 80 <= status["eta_s"] <= 95.0  # the worker's estimate, less the time since
    client.post(f"/api/v1/jobs/{job['job_id']}/release", json={"worker_id": "w1"},
                headers=worker)
    status = client.get("/api/v1/observations/T-1").json()["verification"]
    assert status["progress"] is None and status["position"] == 0


def test_heartbeats_stay_out_of_the_access_log(client):
    import logging

    def line(path: str) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 0,
                                 '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "POST", path, "1.1",
                                                              200), None)

    access_log = logging.getLogger("uvicorn.access")
    assert not access_log.filter(line("/api/v1/jobs/7/heartbeat"))
    assert access_log.filter(line("/api/v1/jobs/claim"))
    assert access_log.filter(line("/api/v1/observations"))


def test_a_twin_with_the_same_recipe_config_seed_and_claims_shares_the_verification(
        client, alice, settings):
    from tests.conftest import register

    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    bob = register(client, "bob")
    waiting = client.post("/api/v1/observations", headers=bob,
                          json=observation_body(title="Reproduction of T-1")).json()
    assert waiting["verification"] is None  # no second job for the same runs
    assert "verified together with T-1v1" in waiting["verdict_reason"]
    other_seed = client.post("/api/v1/observations", json=observation_body(seed=5),
                             headers=bob).json()
    assert other_seed["verification"]["status"] == "queued"  # not a twin: its own job
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w"}, headers=worker).json()
    assert job["observation"] == "T-1v1"
    client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=completion("w"), headers=worker)
    twin = client.get("/api/v1/observations/T-2").json()
    assert twin["verdict"] == "robust" and twin["verdict_reason"].startswith("verified with T-1v1")
    assert twin["pass_rates"] == {"final(test_acc) >= 0.95": 1.0}
    late = client.post("/api/v1/observations", headers=bob,
                       json=observation_body(title="Another reproduction")).json()
    assert late["verdict"] == "robust" and late["verification"] is None  # at once
