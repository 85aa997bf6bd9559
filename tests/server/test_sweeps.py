"""Sweep observations: stored whole (grid series, every cell's run), verified on a sample."""

from __future__ import annotations

from runner.spec import JobComplete, RunResult, Verdict
from tests.conftest import observation_body
from tests.server.test_queue import worker_headers

GRID = {"weight_decay": [0.0, 1.0], "train_fraction": [0.3, 0.5]}
CELLS = [{"weight_decay": wd, "train_fraction": f} for wd in (0.0, 1.0) for f in (0.3, 0.5)]


def cell_run(cell: dict, seed: int) -> dict:
    return {"status": "ok", "seed": seed, "cell": cell, "wall_time_s": 1.5,
            "metrics": {"test_acc": {"x": [0, 100], "y": [0.01, 0.99 * cell["weight_decay"]]}}}


def sweep_body(**overrides) -> dict:
    """A 2 x 2 grokking sweep: `final_test` over weight_decay and train_fraction."""
    body = observation_body(
        title="Where grokking happens",
        metrics={"final_test": {"x": [c["weight_decay"] for c in CELLS], "axis": "weight_decay",
                                "x2": [c["train_fraction"] for c in CELLS],
                                "axis2": "train_fraction", "y": [0.0, 0.02, 0.99, None]}},
        claims=["at(final_test, 1, 0.3) >= 0.95", "fraction(final_test >= 0.95) <= 0.5"],
        sweep={"grid": GRID, "seeds": [0], "measures": {"final_test": "final(test_acc)"}},
        runs=[{"status": "ok", "seed": 0, "wall_time_s": 6.0}]
        + [cell_run(cell, 0) for cell in CELLS],
    )
    body.update(overrides)
    return body


def test_a_sweep_is_stored_whole_and_read_back(client, alice):
    posted = client.post("/api/v1/observations", json=sweep_body(), headers=alice)
    assert posted.status_code == 201, posted.text
    record = posted.json()
    assert record["sweep"]["grid"] == GRID
    assert record["metrics"] == [{"name": "final_test", "axis": "weight_decay", "n_points": 4,
                                  "axis2": "train_fraction"}]
    cells = [(run["kind"], run["cell"]) for run in record["runs"]]
    assert cells == [("author", None)] + [("cell", cell) for cell in CELLS]
    ref = record["id"]
    series = client.get(f"/api/v1/observations/{ref}/metrics").json()["final_test"]
    assert series["x2"] == [0.3, 0.5, 0.3, 0.5] and series["y"] == [0.0, 0.02, 0.99, None]
    spec = client.get(f"/api/v1/observations/{ref}/spec").json()
    assert spec["sweep"]["measures"] == {"final_test": "final(test_acc)"}
    assert spec["metrics"]["final_test"]["axis2"] == "train_fraction"
    everything = client.get(f"/api/v1/observations/{ref}/metrics?runs=true").json()["runs"]
    assert [run["cell"] for run in everything[1:]] == CELLS


def test_a_sweep_that_does_not_add_up_is_refused_with_what_to_fix(client, alice):
    cases = {
        "belongs to a sweep": observation_body(runs=[
            {"status": "ok", "seed": 0}, cell_run(CELLS[0], 0)]),
        "each with a `cell` of the grid": sweep_body(runs=[{"status": "ok", "seed": 0},
                                    cell_run({"weight_decay": 0.0, "train_fraction": 0.7}, 0)]),
        "against weight_decay and train_fraction, not step": sweep_body(
            metrics={"final_test": {"x": [0, 1], "y": [0.1, 0.2]}}, claims=[]),
        "seed 5 is not one of": sweep_body(runs=[{"status": "ok", "seed": 0},
                                                 cell_run(CELLS[0], 5)]),
    }
    for needle, body in cases.items():
        answer = client.post("/api/v1/observations", json=body, headers=alice)
        assert answer.status_code == 422, (needle, answer.text)
        assert needle in answer.text, answer.text
    assert client.get("/api/v1/observations").json()["items"] == []  # nothing stored


def test_workers_share_a_sweep_cell_by_cell_and_it_gets_one_verdict(client, alice, settings):
    settings.sweep_verify_runs = 2
    body = sweep_body()
    body["metrics"]["final_test"]["y"] = [0.0, 0.02, 0.99, 0.99]
    ref = client.post("/api/v1/observations", json=body, headers=alice).json()["id"]
    worker = worker_headers(settings)
    first = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    second = client.post("/api/v1/jobs/claim", json={"worker_id": "w2"}, headers=worker).json()
    assert first["seeds"] == second["seeds"] == [1]  # a seed the sweep did not use
    assert [first["cells"], second["cells"]] == [[CELLS[0]], [CELLS[-1]]]  # the corners
    assert first["spec"]["sweep"]["grid"] == GRID

    def result(worker_id, cells) -> dict:
        runs = [RunResult.model_validate(cell_run(cell, 1)) for cell in cells]
        return JobComplete(worker_id=worker_id, runs=runs, verdict=Verdict.robust,
                           reason="the worker's view of its own cell").model_dump(mode="json")

    wrong = client.post(f"/api/v1/jobs/{first['job_id']}/complete",
                        json=result("w1", second["cells"]), headers=worker)
    assert wrong.status_code == 422 and "assigned the cells and seeds" in wrong.text
    done = client.post(f"/api/v1/jobs/{first['job_id']}/complete",
                       json=result("w1", first["cells"]), headers=worker)
    assert done.status_code == 200, done.text
    assert client.get(f"/api/v1/observations/{ref}").json()["verdict"] == "unverified"
    client.post(f"/api/v1/jobs/{second['job_id']}/complete",
                json=result("w2", second["cells"]), headers=worker).raise_for_status()
    record = client.get(f"/api/v1/observations/{ref}").json()
    assert record["verdict"] == "robust", record["verdict_reason"]
    assert "re-ran 2 of 4 cells on fresh seed 1" in record["verdict_reason"]
    checked = [(run["cell"], run["worker_id"]) for run in record["runs"]
               if run["kind"] == "verification"]
    assert checked == [(CELLS[0], "w1"), (CELLS[-1], "w2")]  # each cell once


def test_a_cell_that_does_not_hold_up_makes_the_sweep_not_reproduced(client, alice, settings):
    settings.sweep_verify_runs = 1
    ref = client.post("/api/v1/observations", json=sweep_body(claims=[
        "at(final_test, 1, 0.3) >= 0.95"]), headers=alice).json()["id"]
    worker = worker_headers(settings)
    job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
    assert job["cells"] == [CELLS[2]]  # one cell: the middle of the grid
    run = cell_run(CELLS[2], 1)
    run["metrics"]["test_acc"]["y"][-1] = 0.5
    body = JobComplete(worker_id="w1", runs=[RunResult.model_validate(run)],
                       verdict=Verdict.robust).model_dump(mode="json")
    client.post(f"/api/v1/jobs/{job['job_id']}/complete", json=body,
                headers=worker).raise_for_status()
    record = client.get(f"/api/v1/observations/{ref}").json()
    assert record["verdict"] == "not-reproduced"
    assert "`at(final_test, 1, 0.3) >= 0.95` fails" in record["verdict_reason"]
