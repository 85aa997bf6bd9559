"""An observation is stored with its runs as measured where they ran (issue 12, friction 2):
the author's claim results, timings and environment, and a local reproduction's fresh seeds."""

from __future__ import annotations

from tests.conftest import observation_body

CLAIMS = observation_body()["claims"]


def measured_run(seed: int = 0, holds: bool = True, **extra) -> dict:
    return {"status": "ok", "seed": seed, "wall_time_s": 12.5, "cpu_time_s": 11.9,
            "peak_memory_mb": 321.0, "network_isolated": True, "log_tail": "hello\n",
            "claims": [{"claim": c, "holds": holds, "detail": f"{c}: as measured"}
                       for c in CLAIMS], **extra}


def test_the_author_run_keeps_its_claims_and_timings(client, alice):
    body = observation_body(runs=[measured_run()])
    created = client.post("/api/v1/observations", json=body, headers=alice)
    assert created.status_code == 201, created.text
    [author] = created.json()["runs"]
    assert author["kind"] == "author" and author["seed"] == 0
    assert (author["wall_time_s"], author["cpu_time_s"], author["peak_memory_mb"]) == (
        12.5, 11.9, 321.0)
    assert author["network_isolated"] is True
    assert [c["claim"] for c in author["claims"]] == CLAIMS
    assert all(c["holds"] for c in author["claims"])
    page = client.get("/T-1").text
    assert "No run has evaluated the claims yet" not in page
    assert "as run" in page and "12.5 s" in page


def test_a_reproduction_posts_its_fresh_seeds_as_runs_of_the_version(client, alice):
    fresh = measured_run(seed=1, holds=False, metrics=observation_body()["metrics"])
    created = client.post("/api/v1/observations", json=observation_body(
        runs=[measured_run(), fresh]), headers=alice)
    assert created.status_code == 201, created.text
    runs = created.json()["runs"]
    assert [(r["kind"], r["seed"]) for r in runs] == [("author", 0), ("reproduction", 1)]
    assert not any(c["holds"] for c in runs[1]["claims"])
    every = client.get("/api/v1/observations/T-1/metrics", params={"runs": "true"}).json()
    assert [sorted(r["metrics"]) for r in every["runs"]] == [["test_acc", "train_acc"]] * 2


def test_without_runs_the_author_run_is_as_before(client, alice):
    created = client.post("/api/v1/observations", json=observation_body(), headers=alice).json()
    assert created["runs"][0]["claims"] == [] and created["runs"][0]["wall_time_s"] is None


def test_a_posted_run_must_be_the_observation_s_own(client, alice):
    wrong_seed = client.post("/api/v1/observations", headers=alice,
                             json=observation_body(runs=[measured_run(seed=3)]))
    assert wrong_seed.status_code == 422 and "runs[0]" in wrong_seed.text
    failed = client.post("/api/v1/observations", headers=alice, json=observation_body(
        runs=[measured_run(status="error", error="boom")]))
    assert failed.status_code == 422 and "boom" in failed.text
