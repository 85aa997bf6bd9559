"""How robust a built-in phenomenon is: its default claims on many seeds.

Used by the slow test in tests/phenomena/test_library.py and by
`python -m benchmarks.phenomena --fresh N`: the default config on each seed,
trained several seeds at a time (`Phenomenon.run_batch`, through the sandbox),
with the default claims evaluated on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from runner.compare import evaluate_run
from runner.execute import run_seeds_together
from runner.spec import BuiltinRecipe, RunResult, RunStatus

# Seeds trained together in one sandbox, and sandboxes at once (a 2-core machine).
BATCH, SANDBOXES = 10, 2


def runs_on_seeds(name: str, seeds: Sequence[int], claims: Sequence[str], *,
                  batch: int = BATCH, sandboxes: int = SANDBOXES) -> list[RunResult]:
    """The default config of built-in `name` on `seeds`, with `claims` evaluated."""
    batches = [list(seeds[i:i + batch]) for i in range(0, len(seeds), batch)]
    with ThreadPoolExecutor(max_workers=sandboxes) as pool:
        done = pool.map(lambda seeds: run_seeds_together(BuiltinRecipe(builtin=name), {}, seeds),
                        batches)
        return [evaluate_run(run, claims) for runs in done for run in runs]


def failing_claims(runs: Sequence[RunResult]) -> dict[int, list[str]]:
    """seed -> the claims that fail on it (or the run's error), for the runs not all held."""
    return {run.seed: [c.claim for c in run.claims if not c.holds] or [run.error or "error"]
            for run in runs
            if run.status is not RunStatus.ok or not all(c.holds for c in run.claims)}
