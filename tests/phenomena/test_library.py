"""Every built-in phenomenon keeps the module contract, runs deterministically in
the sandbox, and (slow) shows its published signature on the default config."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

import phenomena
from runner.claims import validate_claim
from runner.compare import evaluate_run
from runner.execute import run_recipe
from runner.spec import BuiltinRecipe, RunStatus

NAMES = phenomena.names()


@pytest.mark.parametrize("name", NAMES)
def test_module_keeps_the_contract(name):
    phenomenon = phenomena.get(name)
    assert phenomenon.summary and len(phenomenon.module.__doc__) > 400
    assert dataclasses.is_dataclass(phenomenon.config_class)
    assert phenomenon.defaults()["seed"] == 0
    assert phenomenon.claims and phenomenon.title
    phenomenon.make_config(phenomenon.quick)  # QUICK names real keys
    with pytest.raises(phenomena.ConfigError, match="no config key"):
        phenomenon.make_config({"no_such_knob": 1})


@pytest.mark.parametrize("name", NAMES)
def test_quick_config_is_bitwise_identical_across_two_sandboxed_runs(name):
    phenomenon = phenomena.get(name)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two sandboxes side by side
        runs = list(pool.map(lambda _: run_recipe(BuiltinRecipe(builtin=name), phenomenon.quick, 0),
                             range(2)))
    for run in runs:
        assert run.status is RunStatus.ok, run.error
    first, second = (r.metrics for r in runs)
    assert first and first.keys() == second.keys()
    for series in first:
        assert first[series].x == second[series].x
        assert first[series].y == second[series].y, f"{name}: {series} differs between runs"
    for claim in phenomenon.claims:  # every default claim names a series the run logs
        validate_claim(claim, first.keys())


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_default_claims_hold_on_the_default_seed(name):
    phenomenon = phenomena.get(name)
    run = evaluate_run(run_recipe(BuiltinRecipe(builtin=name), {}, 0), phenomenon.claims)
    assert run.status is RunStatus.ok, run.error
    failed = [f"{c.claim}: {c.detail}" for c in run.claims if not c.holds]
    assert not failed, failed


# Seeds never used while the phenomena were developed (docs/phenomena/README.md).
FRESH_SEEDS = list(range(1000, 1020))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 10 seeds in each of 2 sandboxes: neural scaling takes ~6 min
@pytest.mark.parametrize("name", NAMES)
def test_default_claims_hold_on_twenty_fresh_seeds(name, capsys):
    from runner.robustness import failing_claims, runs_on_seeds

    runs = runs_on_seeds(name, FRESH_SEEDS, phenomena.get(name).claims)
    failing = failing_claims(runs)
    with capsys.disabled():
        print(f"\n{name}: every default claim holds on {len(runs) - len(failing)}/{len(runs)} "
              f"fresh seeds ({FRESH_SEEDS[0]}-{FRESH_SEEDS[-1]})")
    assert not failing, failing


def test_run_batch_without_a_batched_module_runs_the_seeds_one_by_one(monkeypatch):
    from runner.recorder import Recorder

    phenomenon = phenomena.get("grokking")
    monkeypatch.delattr(phenomenon.module, "run_batch", raising=False)
    config = phenomenon.make_config({**phenomenon.quick, "steps": 5})
    batch, alone = [Recorder(), Recorder()], Recorder()
    phenomenon.run_batch(config, [3, 4], batch)
    phenomenon.run(dataclasses.replace(config, seed=4), alone)
    assert not phenomenon.batched
    assert batch[1].series()["test_loss"].y == alone.series()["test_loss"].y
    assert batch[0].series()["test_loss"].y != alone.series()["test_loss"].y
    with pytest.raises(ValueError, match="one log per seed"):
        phenomenon.run_batch(config, [1, 2], [Recorder()])
