"""Re-run an observation's spec on seeds and judge it: what `tycho rerun` and the worker do."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner.compare import Judgement, evaluate_run, judge
from runner.execute import STOPPED_ERROR, Limits, run_recipe
from runner.spec import ObservationSpec, RunResult


class Stopped(Exception):
    """The caller asked to stop (SIGTERM, a cancelled job); the seed running was killed."""


@dataclass
class Reproduction:
    runs: list[RunResult]  # the original seed first
    judgement: Judgement


def reproduce(
    spec: ObservationSpec,
    seeds: Sequence[int],
    *,
    threads: int | None = None,
    limits: Limits | None = None,
    on_point: Callable[[int, dict], None] | None = None,
    on_run: Callable[[RunResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Reproduction:
    """Run `spec` once per seed (the first is the original), evaluate claims, judge.

    `threads` None runs with the author's thread count (from the spec's
    environment, capped at this machine's cores; 1 when unknown): bitwise equality
    is only expected with the same count.

    `should_stop` is asked before each seed and, by `run_recipe`, every fraction
    of a second during one; once it returns True, the run in progress is killed
    and Stopped is raised. Runs finished before are passed to `on_run` as usual.
    """
    threads = threads or author_threads(spec)
    runs: list[RunResult] = []
    for seed in seeds:
        if should_stop is not None and should_stop():
            raise Stopped(f"stopped before seed {seed}")
        run = run_recipe(
            spec.recipe,
            spec.config,
            seed,
            threads=threads,
            limits=limits or Limits(),
            on_point=(lambda point, seed=seed: on_point(seed, point)) if on_point else None,
            should_stop=should_stop,
        )
        if run.error == STOPPED_ERROR:  # a killed seed is no result: neither judged nor reported
            raise Stopped(f"stopped during seed {seed}")
        run = evaluate_run(run, spec.claims)
        runs.append(run)
        if on_run is not None:
            on_run(run)
    judgement = judge(claims=spec.claims, submitted=spec.metrics, runs=runs,
                      environment=spec.environment)
    return Reproduction(runs=runs, judgement=judgement)


def author_threads(spec: ObservationSpec) -> int:
    """The thread count the author ran with, at most this machine's cores."""
    wanted = spec.environment.threads if spec.environment and spec.environment.threads else 1
    return max(1, min(wanted, os.cpu_count() or 1))
