"""Sweeps: a grid of cells and seeds, run in sandboxes, resumed, reduced to measures."""

from __future__ import annotations

import textwrap

import pytest

from runner.claims import check_claim
from runner.execute import Limits
from runner.spec import ObservationSpec, RunKind, RunResult, RunStatus, Series, SourceRecipe, \
    SweepSpec, Verdict
from runner.sweep import (
    Sweep,
    SweepError,
    cell_name,
    parse_grid,
    parse_measure_option,
    judge_sweep,
    reduce_sweep,
    run_sweep,
    sweep_observation,
    sweep_results,
    verify_sweep,
)

ROOMY = Limits(wall_seconds=120, cpu_seconds=60, memory_mb=2048)

# A toy with a "phase diagram": the loss crosses 0.5 at step 10 * rate / (1 + decay),
# and never when decay is large; no torch, so each run is a fraction of a second.
TOY = SourceRecipe(source=textwrap.dedent(
    """
    def run(config, log):
        for step in range(0, 50):
            loss = 1.0 / (1 + step * (1 + config["decay"]) / (10 * config["rate"]))
            if config["decay"] >= 5:
                loss = 0.9
            log(step, loss=loss)
    """
))


def toy_sweep(tmp_path, grid, seeds=(0,), **measures) -> Sweep:
    spec = SweepSpec(grid=grid, seeds=list(seeds),
                     measures=measures or {"cross": "first_step(loss <= 0.5)"})
    return Sweep(out=tmp_path / "sweep", recipe=TOY, config={"rate": 1.0, "decay": 0.0},
                 spec=spec, claims=[])


def test_the_grid_and_measure_options_say_what_is_wrong():
    assert parse_grid("weight_decay=0,0.1,1") == ("weight_decay", [0.0, 0.1, 1.0])
    assert parse_grid("train_fraction=0.2:0.7:6") == (
        "train_fraction", [0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert parse_grid("lr=1e-3:1e-1:3:log") == ("lr", [0.001, 0.01, 0.1])
    for bad in ("weight_decay", "wd=a,b", "wd=0:1", "wd=-1:1:3:log"):
        with pytest.raises(SweepError, match="--grid"):
            parse_grid(bad)
    assert parse_measure_option("g=first_step(acc >= 0.9)") == ("g", "first_step(acc >= 0.9)")
    with pytest.raises(SweepError, match="column"):
        parse_measure_option("g=first_step(acc >= ")


def test_a_two_by_three_sweep_runs_every_cell_and_reduces_to_a_grid(tmp_path):
    sweep = toy_sweep(tmp_path, {"decay": [0, 1], "rate": [1, 2, 3]}, seeds=(0, 1))
    seen = []
    run_sweep(sweep, parallel=2, limits=ROOMY, on_run=lambda run, done, total: seen.append(
        (done, total)))
    assert sorted(seen) == [(i, 12) for i in range(1, 13)]
    assert (tmp_path / "sweep" / "cells" / "decay=1,rate=2" / "seed1" / "metrics.json").is_file()
    metrics = reduce_sweep(sweep.spec, sweep_results(sweep))
    cross = metrics["cross"]
    assert (cross.axis, cross.axis2) == ("decay", "rate")
    assert list(zip(cross.x, cross.x2)) == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    assert cross.y == [10, 20, 30, 5, 10, 15]
    assert {"cross_min", "cross_max"} <= metrics.keys()
    assert check_claim("at(cross, 1, 2) == 10 and fraction(cross >= 15) == 0.5", metrics).holds


def test_an_interrupted_sweep_resumes_without_running_finished_cells_again(tmp_path):
    grid = {"decay": [0, 1, 5]}
    sweep = toy_sweep(tmp_path, grid)
    with pytest.raises(KeyboardInterrupt):
        def interrupt_after_the_first(run, done, total):
            raise KeyboardInterrupt

        run_sweep(sweep, parallel=1, limits=ROOMY, on_run=interrupt_after_the_first)
    assert len(sweep.pending()) == 2
    first = sweep.run_dir(*sweep.runs()[0]) / "run.json"
    written = first.stat().st_mtime_ns
    again = []
    run_sweep(toy_sweep(tmp_path, grid), parallel=1, limits=ROOMY,
              on_run=lambda run, done, total: again.append(run.cell))
    assert again == [{"decay": 1.0}, {"decay": 5.0}]  # the first cell was not run again
    assert first.stat().st_mtime_ns == written
    metrics = reduce_sweep(sweep.spec, sweep_results(sweep))
    assert metrics["cross"].y == [10, 5, None]  # never crosses at decay 5: no value
    assert "cross_min" not in metrics  # one seed: no spread


def test_a_folder_holding_another_sweep_is_not_overwritten(tmp_path):
    toy_sweep(tmp_path, {"decay": [0, 1]}).start()
    with pytest.raises(SweepError, match="holds another sweep"):
        toy_sweep(tmp_path, {"decay": [0, 2]}).start()
    assert Sweep.read(tmp_path / "sweep").spec.grid == {"decay": [0.0, 1.0]}
    assert cell_name({"decay": 0.1, "rate": 2.0}) == "decay=0.1,rate=2"


def test_a_finished_sweep_posts_as_one_observation_with_its_cells_runs(tmp_path):
    sweep = toy_sweep(tmp_path, {"decay": [0, 1], "rate": [1, 2]}, seeds=(0, 1))
    sweep.claims = ["at(cross, 0, 2) >= 15", "fraction(cross <= 10) == 0.75"]
    sweep.start()
    with pytest.raises(SweepError, match="8 of 8 runs .* have not run"):
        sweep_observation(sweep.out)
    run_sweep(sweep, parallel=2, limits=ROOMY)
    body, warnings = sweep_observation(sweep.out, tags=["toy"])
    assert warnings == []
    assert body.sweep == sweep.spec and body.claims == sweep.claims
    assert body.metrics["cross"].axis2 == "rate" and body.metrics["cross"].y == [10, 20, 5, 10]
    own, *cells = body.runs
    assert own.cell is None and [c.holds for c in own.claims] == [True, True]
    assert [(run.cell, run.seed) for run in cells][:2] == [
        ({"decay": 0.0, "rate": 1.0}, 0), ({"decay": 0.0, "rate": 1.0}, 1)]
    assert all(run.metrics["loss"].x for run in cells)  # each cell's series go with it
    assert body.title == "a recipe swept over decay and rate"


def toy_spec(claims, posted):
    """A 1-D sweep observation of the toy over decay, with posted `cross` values."""
    return ObservationSpec(
        recipe=TOY, config={"rate": 1.0, "decay": 0.0}, claims=claims,
        sweep=SweepSpec(grid={"decay": [0, 1, 3]}, seeds=[0],
                        measures={"cross": "first_step(loss <= 0.5)"}),
        metrics={"cross": Series(x=[0, 1, 3], y=posted, axis="decay")})


def test_a_sweep_is_verified_on_a_sample_of_cells_and_says_which(tmp_path):
    spec = toy_spec(["at(cross, 0) >= 2 * at(cross, 3)"], [10, 5, 3])
    cells = spec.sweep.sample(2)
    assert cells == [{"decay": 0.0}, {"decay": 3.0}]  # the corners first
    runs, judgement = verify_sweep(spec, cells, [spec.sweep.fresh_seed()], limits=ROOMY)
    assert [(run.cell, run.seed) for run in runs] == [({"decay": 0.0}, 1), ({"decay": 3.0}, 1)]
    assert judgement.verdict is Verdict.robust
    assert "re-ran 2 of 3 cells on fresh seed 1: (decay=0), (decay=3)" in judgement.reason


def test_a_sweep_whose_cells_disagree_or_whose_claims_then_fail_is_not_robust():
    def run(cell, cross):  # a cell's re-run whose loss first reaches 0.5 at `cross`
        ys = [1.0 if step < cross else 0.4 for step in range(50)]
        return RunResult(status=RunStatus.ok, seed=1, cell=cell,
                         metrics={"loss": Series(x=list(range(50)), y=ys)})

    cells = [{"decay": 0.0}, {"decay": 3.0}]
    spec = toy_spec(["at(cross, 0) >= 2 * at(cross, 3)"], [10, 5, 3])
    off = judge_sweep(spec, cells, [run(cells[0], 10), run(cells[1], 4)])
    assert off.verdict is Verdict.fragile  # 4 is outside 3 +- 25%, the claim still holds
    assert "cross at (decay=3) is 4, posted 3" in off.reason
    failed = judge_sweep(spec, cells, [run(cells[0], 6), run(cells[1], 4)])
    assert failed.verdict is Verdict.not_reproduced
    assert "`at(cross, 0) >= 2 * at(cross, 3)` fails" in failed.reason
    crashed = RunResult(status=RunStatus.error, seed=1, cell=cells[0], error="boom")
    assert judge_sweep(spec, cells[:1], [crashed]).verdict is Verdict.error
    assert RunKind.cell.value == "cell"


def test_runs_plotted_from_several_threads_at_once_all_get_their_plots(tmp_path):
    """A sweep writes each run, plots included, from the thread that ran it; matplotlib's
    text layout is not thread-safe (a newcomer's first sweep died of a mathtext error)."""
    from concurrent.futures import ThreadPoolExecutor

    from runner.plot import plot_series

    metrics = {f"s{i}": Series(x=list(range(200)), y=[10.0 ** (-k / 20) for k in range(200)])  # log axis: mathtext ticks
               for i in range(4)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = list(pool.map(lambda i: plot_series(metrics, tmp_path / f"r{i}", "sweep"),
                                range(8)))  # without the lock, 8 failed 3 times in 3
    assert all(len(paths) == 4 for paths in written)
    assert len(list(tmp_path.glob("r*/*.png"))) == 32
