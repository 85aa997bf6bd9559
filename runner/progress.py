"""How far a reproduction is: per seed, work done of its total and the time left.

A `ProgressTracker` is fed by the sandboxed runs of `runner.reproduce` (from
several threads when seeds run in parallel) and read by whoever shows it: the
worker sends `snapshot()` with its heartbeats, so that the registry's page and
API can say where a verification is, and `tycho rerun` / `tycho run` draw it.

A seed's progress is the recipe's own `log.progress(done, total)` when it
reports one; otherwise the index of its latest point on the step axis against
`expected_steps` (the author's last step, when the spec carries the author's
series). Time left is extrapolated from the elapsed time once a seed is
MIN_FRACTION_FOR_ETA of the way through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

from runner.spec import JobProgress, SeedProgress, SeedState, Series

# Below this fraction done, an extrapolated time left is mostly start-up noise.
MIN_FRACTION_FOR_ETA = 0.02


def expected_steps(metrics: Mapping[str, Series]) -> float | None:
    """The last step any of the author's series reached, if they were logged per step."""
    ends = [series.x[-1] for series in metrics.values() if series.axis == "step" and series.x]
    return max(ends) if ends else None


class ProgressTracker:
    """Thread-safe progress of the seeds of one reproduction."""

    def __init__(self, seeds: Sequence[int], *, expected_steps: float | None = None,
                 parallel: int = 1) -> None:
        self.expected_steps = expected_steps
        self.parallel = max(1, parallel)
        self._lock = threading.Lock()
        self._seeds = {seed: SeedProgress(seed=seed) for seed in seeds}
        self._started: dict[int, float] = {}
        self._ended: dict[int, float] = {}
        self._own_progress: set[int] = set()  # seeds whose recipe reports log.progress

    # --- fed by the runs ---

    def started(self, seeds: Sequence[int]) -> None:
        now = time.monotonic()
        with self._lock:
            for seed in seeds:
                self._seeds[seed].state = SeedState.running
                self._started[seed] = now

    def point(self, seed: int, point: dict) -> None:
        """A metric point: progress by step, unless the recipe reports its own."""
        if point.get("axis", "step") != "step" or self.expected_steps is None:
            return
        with self._lock:
            if seed not in self._own_progress:
                self._update(seed, float(point["x"]), self.expected_steps)

    def progress(self, seed: int, done: float, total: float) -> None:
        with self._lock:
            self._own_progress.add(seed)
            self._update(seed, done, total)

    def finished(self, seed: int, ok: bool) -> None:
        with self._lock:
            entry = self._seeds[seed]
            entry.state = SeedState.done if ok else SeedState.failed
            self._ended[seed] = time.monotonic()
            if ok and entry.total is not None:
                entry.done = entry.total
            entry.eta_s = 0.0

    def _update(self, seed: int, done: float, total: float) -> None:
        entry = self._seeds[seed]
        entry.done, entry.total = min(done, total), total

    # --- read by the views ---

    def snapshot(self) -> JobProgress:
        """Every seed's state, done/total, elapsed and time left, and the job's time left."""
        now = time.monotonic()
        with self._lock:
            seeds = [entry.model_copy() for entry in self._seeds.values()]
            started, ended = dict(self._started), dict(self._ended)
        durations = []
        for entry in seeds:
            if entry.seed in started:
                entry.elapsed_s = round(ended.get(entry.seed, now) - started[entry.seed], 1)
            if entry.state is SeedState.running:
                entry.eta_s = _time_left(entry)
                if entry.eta_s is not None:
                    durations.append(entry.elapsed_s + entry.eta_s)
            elif entry.state is SeedState.done and entry.elapsed_s is not None:
                durations.append(entry.elapsed_s)
        return JobProgress(seeds=seeds, eta_s=self._job_time_left(seeds, durations))

    def _job_time_left(self, seeds: list[SeedProgress], durations: list[float]) -> float | None:
        """The longest running seed's time left, plus the queued seeds spread over
        the parallel slots at the typical duration so far."""
        running = [entry.eta_s for entry in seeds if entry.state is SeedState.running]
        queued = sum(entry.state is SeedState.queued for entry in seeds)
        if any(eta is None for eta in running) or (queued and not durations):
            return None
        typical = sum(durations) / len(durations) if durations else 0.0
        waves = -(-queued // self.parallel)  # ceiling
        return round(max(running, default=0.0) + waves * typical, 1)


def _time_left(entry: SeedProgress) -> float | None:
    if entry.done is None or not entry.total or entry.elapsed_s is None:
        return None
    fraction = entry.done / entry.total
    if fraction < MIN_FRACTION_FOR_ETA:
        return None
    return round(entry.elapsed_s * (1 - fraction) / fraction, 1)
