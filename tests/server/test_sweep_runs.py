"""Sweeps run on the registry's workers: a job per cell, the runs kept for their author."""

from __future__ import annotations

from runner.spec import JobComplete, RunResult, Verdict
from tests.conftest import register
from tests.server.test_queue import worker_headers

SWEEP = {"grid": {"weight_decay": [0.0, 1.0]}, "seeds": [0, 1],
         "measures": {"final_test": "final(test_acc)"}}
BODY = {"recipe": {"builtin": "grokking"}, "config": {"steps": 100}, "sweep": SWEEP}


def test_a_sweep_run_is_a_job_per_cell_and_its_runs_come_back_to_its_author(
        client, alice, settings):
    created = client.post("/api/v1/sweeps", json=BODY, headers=alice)
    assert created.status_code == 201, created.text
    sweep = created.json()
    assert (sweep["total"], sweep["done"]) == (4, 0)
    assert [cell["cell"] for cell in sweep["cells"]] == [{"weight_decay": 0.0},
                                                          {"weight_decay": 1.0}]
    worker = worker_headers(settings)
    first = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    second = client.post("/api/v1/jobs/claim", json={"worker_id": "w2"}, headers=worker).json()
    assert (first["purpose"], first["observation"]) == ("sweep", f"sweep {sweep['id']}")
    assert first["spec"]["config"] == {"steps": 100} and first["seeds"] == [0, 1]
    assert [first["cells"], second["cells"]] == [[{"weight_decay": 0.0}], [{"weight_decay": 1.0}]]

    def result(worker_id, job) -> dict:
        runs = [RunResult(status="ok", seed=seed, cell=job["cells"][0],
                          metrics={"test_acc": {"x": [0, 1], "y": [0.0, 0.5 + seed / 10]}})
                for seed in job["seeds"]]
        return JobComplete(worker_id=worker_id, runs=runs,
                           verdict=Verdict.unverified).model_dump(mode="json")

    wrong = client.post(f"/api/v1/jobs/{first['job_id']}/complete",
                        json=result("w1", second), headers=worker)
    assert wrong.status_code == 422 and "assigned the cells and seeds" in wrong.text
    done = client.post(f"/api/v1/jobs/{first['job_id']}/complete", json=result("w1", first),
                       headers=worker)
    assert done.status_code == 200 and done.json()["observation"] == f"sweep {sweep['id']}"
    status = client.get(f"/api/v1/sweeps/{sweep['id']}", headers=alice).json()
    assert status["done"] == 2 and [c["status"] for c in status["cells"]] == ["done", "running"]
    page = client.get(f"/api/v1/sweeps/{sweep['id']}/runs", headers=alice).json()
    assert [(run["cell"], run["seed"]) for run in page["runs"]] == [
        ({"weight_decay": 0.0}, 0), ({"weight_decay": 0.0}, 1)]
    assert page["runs"][1]["metrics"]["test_acc"]["y"] == [0.0, 0.6]
    later = client.get(f"/api/v1/sweeps/{sweep['id']}/runs?after={page['last']}",
                       headers=alice).json()
    assert later == {"runs": [], "last": None}
    assert client.get("/api/v1/observations").json()["items"] == []  # nothing is posted


def test_a_sweep_run_is_its_authors_and_bad_input_says_what_to_fix(client, alice, settings):
    assert client.post("/api/v1/sweeps", json=BODY).status_code == 401
    sweep = client.post("/api/v1/sweeps", json=BODY, headers=alice).json()
    bob = register(client, "bob")
    assert client.get(f"/api/v1/sweeps/{sweep['id']}", headers=bob).status_code == 403
    assert client.get("/api/v1/sweeps/99", headers=alice).status_code == 404
    unknown = client.post("/api/v1/sweeps", json={**BODY, "recipe": {"builtin": "grokkin"}},
                          headers=alice)
    assert unknown.status_code == 422 and "no built-in recipe 'grokkin'" in unknown.text
    too_big = client.post("/api/v1/sweeps", json={**BODY, "sweep": {
        **SWEEP, "grid": {"a": list(range(32)), "b": list(range(32))}}}, headers=alice)
    assert too_big.status_code == 422 and "512" in too_big.text
