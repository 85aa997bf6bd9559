"""Re-run an observation's spec on seeds and judge it: what `tycho rerun` and the worker do.

The original seed runs alone, exactly as the author's run did (same recipe,
config and thread count), so that its series can be compared bit for bit. The
fresh seeds run beside it in parallel sandboxes, up to `parallel` at once; a
built-in phenomenon that trains several seeds in one process
(`Phenomenon.run_batch`) gets its fresh seeds in batches, one per free
sandbox. Each sandbox keeps the author's thread count, so a seed's result does
not depend on how many ran beside it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from runner.compare import Judgement, evaluate_run, judge
from runner.execute import (
    STOPPED_ERROR,
    Launcher,
    Limits,
    default_launcher,
    run_recipe,
    run_seeds_together,
)
from runner.progress import ProgressTracker, expected_steps
from runner.spec import BuiltinRecipe, ObservationSpec, RunResult, RunStatus, SourceRecipe


class Stopped(Exception):
    """The caller asked to stop (SIGTERM, a cancelled job); the seeds running were killed."""


@dataclass
class Reproduction:
    runs: list[RunResult]  # the original seed first, then the fresh seeds in order
    judgement: Judgement


def reproduce(
    spec: ObservationSpec,
    seeds: Sequence[int],
    *,
    threads: int | None = None,
    limits: Limits | None = None,
    parallel: int = 1,
    together: bool = True,
    tracker: ProgressTracker | None = None,
    on_point: Callable[[int, dict], None] | None = None,
    on_run: Callable[[RunResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    launcher: Launcher | None = None,
) -> Reproduction:
    """Run `spec` on `seeds` (the first is the original), evaluate claims, judge.

    `threads` None runs with the author's thread count (from the spec's
    environment, capped at this machine's cores; 1 when unknown): bitwise
    equality is only expected with the same count. `parallel` sandboxes run at
    once; `together` False runs no seeds in one process even where the
    phenomenon could. `tracker`, if given, follows every seed's progress.

    `should_stop` is asked before each sandbox starts and, by `run_recipe`,
    every fraction of a second during one; once it returns True, the runs in
    progress are killed and Stopped is raised. `on_run` gets each finished run
    (claims evaluated) on the thread that ran it; runs finished before a stop
    are passed to it as usual.
    """
    threads = threads or author_threads(spec)
    launcher = launcher or default_launcher(threads)
    limits = limits or Limits()
    tracker = tracker or ProgressTracker(seeds, expected_steps=expected_steps(spec.metrics),
                                         parallel=parallel)
    batched = together and trains_seeds_together(spec.recipe, launcher)
    groups = plan_sandboxes(list(seeds), parallel=parallel, batched=batched)
    leaving = threading.Event()  # the caller left (an exception): stop the other sandboxes

    def stop() -> bool:
        return leaving.is_set() or (should_stop is not None and should_stop())

    def point(seed: int, value: dict) -> None:
        tracker.point(seed, value)
        if on_point is not None:
            on_point(seed, value)

    def run_sandbox(group: list[int]) -> list[RunResult]:
        if stop():
            raise Stopped(f"stopped before seed {group[0]}")
        tracker.started(group)
        options = dict(threads=threads, limits=limits, should_stop=stop, launcher=launcher,
                       on_progress=tracker.progress)
        if len(group) > 1:
            runs = run_seeds_together(spec.recipe, spec.config, group, on_point=point, **options)
        else:
            options["on_progress"] = lambda done, total: tracker.progress(group[0], done, total)
            runs = [run_recipe(spec.recipe, spec.config, group[0],
                               on_point=lambda value: point(group[0], value), **options)]
        if any(run.error == STOPPED_ERROR for run in runs):  # killed: no result
            raise Stopped(f"stopped during seed {group[0]}")
        evaluated = []
        for run in runs:
            run = evaluate_run(run, spec.claims)
            tracker.finished(run.seed, run.status is RunStatus.ok)
            evaluated.append(run)
            if on_run is not None:
                on_run(run)
        return evaluated

    by_seed: dict[int, RunResult] = {}
    stopped: Stopped | None = None
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(groups)))) as pool:
        futures = [pool.submit(run_sandbox, group) for group in groups]
        try:
            for future in futures:
                try:
                    by_seed.update((run.seed, run) for run in future.result())
                except Stopped as exc:
                    stopped = stopped or exc
                    leaving.set()
        except BaseException:
            leaving.set()  # e.g. Ctrl-C in the caller's thread, or a callback's error
            raise
    if stopped is not None:
        raise stopped
    runs = [by_seed[seed] for seed in seeds]
    judgement = judge(claims=spec.claims, submitted=spec.metrics, runs=runs,
                      environment=spec.environment)
    return Reproduction(runs=runs, judgement=judgement)


def plan_sandboxes(seeds: list[int], *, parallel: int, batched: bool) -> list[list[int]]:
    """The seeds of each sandbox, the original's first.

    The original runs alone. Fresh seeds run one per sandbox, or, when the
    phenomenon trains seeds together, in as many batches as there are
    sandboxes left beside the original's (at least one).
    """
    original, fresh = seeds[:1], seeds[1:]
    if not fresh:
        return [original]
    if not batched:
        return [original] + [[seed] for seed in fresh]
    batches = max(1, min(len(fresh), parallel - 1))
    return [original] + [fresh[i::batches] for i in range(batches)]


def trains_seeds_together(recipe: BuiltinRecipe | SourceRecipe, launcher: Launcher) -> bool:
    """Whether `recipe` is a built-in whose batched entry point is faster than its seeds
    one by one (`Phenomenon.batching_pays`). Asked of the fork server, which has the
    phenomena imported, so this process need not."""
    if not isinstance(recipe, BuiltinRecipe):
        return False
    describe = getattr(launcher, "describe", None)
    if describe is not None:
        return bool(describe(recipe.builtin).get("batching_pays"))
    import phenomena

    try:
        return phenomena.get(recipe.builtin).batching_pays
    except phenomena.UnknownPhenomenon:
        return False


def author_threads(spec: ObservationSpec) -> int:
    """The thread count the author ran with, at most this machine's cores."""
    wanted = spec.environment.threads if spec.environment and spec.environment.threads else 1
    return max(1, min(wanted, os.cpu_count() or 1))
