"""The built-in sweeps (phenomena/sweeps.py): well-formed, and their claims hold when run."""

from __future__ import annotations

import pytest

from phenomena import BUILTIN_RECIPES
from phenomena.sweeps import BUILTIN_SWEEPS
from runner.claims import check_claims, validate_claim
from runner.execute import Limits
from runner.local import describe_builtin, resolve_target
from runner.spec import SweepSpec
from runner.sweep import Sweep, reduce_sweep, run_sweep, sweep_results


@pytest.mark.parametrize("name", sorted(BUILTIN_SWEEPS))
def test_a_builtin_sweep_names_real_knobs_measures_and_claims(name):
    preset = BUILTIN_SWEEPS[name]
    assert preset["target"] in BUILTIN_RECIPES and preset["about"] and preset["title"]
    spec = SweepSpec(grid=preset["grid"], seeds=list(range(preset["seeds"])),
                     measures=preset["measures"])
    describe_builtin(preset["target"], {**preset.get("config", {}), **spec.cells()[0]})
    for claim in preset["claims"]:
        validate_claim(claim, spec.measures)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the grokking sweep: 12 runs of ~16 s CPU on 2 cores
@pytest.mark.parametrize("name", sorted(BUILTIN_SWEEPS))
def test_a_builtin_sweep_shows_its_signature(name, tmp_path):
    preset = BUILTIN_SWEEPS[name]
    sweep = Sweep(out=tmp_path / name, recipe=resolve_target(preset["target"]),
                  config=preset.get("config", {}), claims=preset["claims"],
                  spec=SweepSpec(grid=preset["grid"], seeds=[1000], measures=preset["measures"]))
    run_sweep(sweep, parallel=2, limits=Limits(wall_seconds=900, cpu_seconds=600))
    results = sweep_results(sweep)
    assert all(run is not None and run.status.value == "ok" for run in results.values())
    for result in check_claims(sweep.claims, reduce_sweep(sweep.spec, results)):
        assert result.holds, f"{result.claim}: {result.detail}"
