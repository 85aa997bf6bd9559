"""Sweeps: a grid of cells and seeds, run in sandboxes, resumed, reduced to measures."""

from __future__ import annotations

import textwrap

import pytest

from runner.claims import check_claim
from runner.execute import Limits
from runner.spec import SourceRecipe, SweepSpec
from runner.sweep import (
    Sweep,
    SweepError,
    cell_name,
    parse_grid,
    parse_measure_option,
    reduce_sweep,
    run_sweep,
    sweep_results,
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
