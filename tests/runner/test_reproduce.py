"""Re-running an observation: the original alone, fresh seeds beside it, progress followed."""

from __future__ import annotations

import textwrap
import time

import pytest

import phenomena
from runner.execute import Limits
from runner.progress import ProgressTracker, expected_steps
from runner.reproduce import plan_sandboxes, reproduce
from runner.spec import BuiltinRecipe, ObservationSpec, SeedState, Series, SourceRecipe

ROOMY = Limits(wall_seconds=120, cpu_seconds=60, memory_mb=2048)

# Sleeps rather than computes, so that parallel sandboxes overlap on any machine.
SLEEPER = SourceRecipe(source=textwrap.dedent(
    """
    import time

    def run(config, log):
        for step in range(5):
            time.sleep(config["nap"])
            log(step, loss=1.0 / (step + 1 + config["seed"]))
    """
))


def test_the_original_runs_alone_and_fresh_seeds_share_the_other_sandboxes():
    assert plan_sandboxes([7], parallel=4, batched=True) == [[7]]
    assert plan_sandboxes([7, 8, 9, 10, 11], parallel=1, batched=True) == [[7], [8, 9, 10, 11]]
    assert plan_sandboxes([7, 8, 9, 10, 11], parallel=3, batched=True) == [[7], [8, 10], [9, 11]]
    assert plan_sandboxes([7, 8, 9], parallel=2, batched=False) == [[7], [8], [9]]


def test_seeds_in_parallel_give_the_same_runs_in_the_same_order_sooner():
    spec = ObservationSpec(recipe=SLEEPER, config={"nap": 0.3}, claims=["final(loss) < 1"])
    timings = {}
    for parallel in (1, 3):
        started = time.monotonic()
        result = reproduce(spec, [0, 1, 2], parallel=parallel, limits=ROOMY)
        timings[parallel] = time.monotonic() - started
        assert [run.seed for run in result.runs] == [0, 1, 2]
        assert [run.metrics["loss"].y[-1] for run in result.runs] == [1 / 5, 1 / 6, 1 / 7]
        assert result.judgement.verdict.value == "robust"
    # 3 sandboxes of 1.5 s of sleep: one after the other, or side by side.
    assert timings[3] < timings[1] - 1.0, timings


def test_the_tracker_follows_each_seed_to_the_end():
    spec = ObservationSpec(recipe=SLEEPER, config={"nap": 0.05},
                           metrics={"loss": Series(x=[0, 1, 2, 3, 4], y=[1, 1, 1, 1, 1])})
    tracker = ProgressTracker([0, 1], expected_steps=expected_steps(spec.metrics), parallel=2)
    assert [s.state for s in tracker.snapshot().seeds] == [SeedState.queued] * 2
    reproduce(spec, [0, 1], parallel=2, limits=ROOMY, tracker=tracker)
    snapshot = tracker.snapshot()
    assert [(s.seed, s.state, s.done, s.total) for s in snapshot.seeds] == [
        (0, SeedState.done, 4.0, 4.0), (1, SeedState.done, 4.0, 4.0)]
    assert all(s.elapsed_s is not None and s.elapsed_s > 0 for s in snapshot.seeds)
    assert snapshot.eta_s == 0.0


def test_time_left_is_extrapolated_once_a_seed_is_under_way():
    tracker = ProgressTracker([0, 1, 2], parallel=1)
    tracker.started([0])
    tracker.progress(0, 1, 1000)  # 0.1% done: too early to say
    assert tracker.snapshot().seeds[0].eta_s is None
    time.sleep(0.2)
    tracker.progress(0, 500, 1000)
    snapshot = tracker.snapshot()
    eta = snapshot.seeds[0].eta_s
    assert eta is not None and 0.1 <= eta <= 1.0  # ~ as long again as it has taken
    # Two seeds queued on one sandbox: two more runs of about (elapsed + eta) each.
    assert snapshot.eta_s > eta + 2 * snapshot.seeds[0].elapsed_s


BATCHED = [name for name in phenomena.names() if phenomena.get(name).batching_pays]


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if i else [])
                                  for i, name in enumerate(BATCHED)])
def test_a_builtin_verification_trains_its_fresh_seeds_together(name):
    phenomenon = phenomena.get(name)
    spec = ObservationSpec(recipe=BuiltinRecipe(builtin=name), config=phenomenon.quick,
                           claims=phenomenon.claims)
    result = reproduce(spec, [0, 1, 2], parallel=2, limits=ROOMY)
    extra = [run.environment.model_extra for run in result.runs]
    assert "batch_seeds" not in extra[0]  # the original, alone, as the author ran it
    assert extra[1]["batch_seeds"] == extra[2]["batch_seeds"] == [1, 2]
    separate = reproduce(spec, [0, 1, 2], parallel=2, limits=ROOMY, together=False)
    for together, alone in zip(result.runs, separate.runs):
        # The same verdict on every claim, and the same numbers within float tolerance (a
        # batched matmul may sum in another order: feature learning's probe R² differs in the
        # 16th digit).
        assert [(c.claim, c.holds) for c in together.claims] == [
            (c.claim, c.holds) for c in alone.claims]
        for mine, theirs in zip(together.claims, alone.claims):
            assert [v is None for v in mine.values] == [v is None for v in theirs.values]
            assert [v for v in mine.values if v is not None] == pytest.approx(
                [v for v in theirs.values if v is not None], rel=1e-9, abs=1e-12), mine.claim


def test_fresh_seeds_train_together_only_where_batching_pays():
    from runner.execute import default_launcher
    from runner.reproduce import trains_seeds_together

    launcher = default_launcher(1)
    assert phenomena.get("grokking").batched and not phenomena.get("grokking").batching_pays
    assert not trains_seeds_together(BuiltinRecipe(builtin="grokking"), launcher)
    assert trains_seeds_together(BuiltinRecipe(builtin="edge-of-stability"), launcher)
