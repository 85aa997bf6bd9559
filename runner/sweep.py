"""Sweeps: a recipe run over a grid of config knobs and seeds, each run reduced to numbers.

    tycho sweep grokking --grid weight_decay=0,0.1,1,5 --grid train_fraction=0.2:0.7:6 \\
        --seeds 2 --measure "grok_step=first_step(test_acc >= 0.95)"

A sweep folder, what `tycho sweep` writes and `tycho post` reads:

    sweep.json                   recipe, base config, the sweep (grid, seeds, measures), claims
    cells/<knob=value,...>/seed<N>/   one `tycho run` folder per run (spec, metrics, run)
    metrics.json                 the measures against the knobs, once every run is done

Every run is written as soon as it ends, so an interrupted sweep resumes where
it stopped: a run whose folder holds its run.json is not run again. A run
killed by the interruption leaves nothing. The measures are claim-language
values (`runner.claims.measure`); a cell's value is the mean over its seeds of
the finite ones, and with several seeds `NAME_min` and `NAME_max` give the
spread (see `reduce_sweep` and docs/sweeps.md).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.claims import ClaimSyntaxError, check_claims, parse_measure
from runner.compare import Judgement
from runner.execute import (
    STOPPED_ERROR,
    Launcher,
    Limits,
    default_launcher,
    run_recipe,
    run_seeds_together,
)
from runner.reproduce import author_threads, trains_seeds_together
from runner.spec import (
    BuiltinRecipe,
    ObservationCreate,
    ObservationSpec,
    RunResult,
    RunStatus,
    Series,
    SourceRecipe,
    SweepSpec,
)
from runner.sweep_verdict import cell_name, judge_sweep, reduce_sweep

SWEEP_FILE, METRICS_FILE = "sweep.json", "metrics.json"


class SweepError(ValueError):
    """A sweep that cannot be run as asked; the message says what to change."""


# --- the command line's words ---------------------------------------------------------


def parse_grid(text: str) -> tuple[str, list[float]]:
    """`knob=0,0.1,1` (values), `knob=0.2:0.7:6` (6 evenly spaced, ends included) or
    `knob=1e-3:1e-1:5:log` (5 evenly spaced on a log scale) -> (knob, values)."""
    knob, sep, spec = text.partition("=")
    knob = knob.strip()
    if not sep or not knob or not spec.strip():
        raise SweepError(f"--grid takes knob=values, e.g. weight_decay=0,0.1,1; got {text!r}")
    try:
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "log"):
                raise ValueError
            low, high, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 1:
                raise ValueError
            if len(parts) == 4:
                if low <= 0 or high <= 0:
                    raise SweepError(f"--grid {knob}: a log scale needs positive ends")
                values = np.geomspace(low, high, count)
            else:
                values = np.linspace(low, high, count)
            return knob, [float(f"{v:.12g}") for v in values]
        return knob, [float(v) for v in spec.split(",")]
    except SweepError:
        raise
    except ValueError:
        raise SweepError(
            f"--grid {knob}: {spec!r} is neither numbers joined by commas (0,0.1,1) nor "
            "low:high:count (0.2:0.7:6) nor low:high:count:log (1e-3:1e-1:5:log)") from None


def parse_measure_option(text: str) -> tuple[str, str]:
    """`grok_step=first_step(test_acc >= 0.95)` -> (name, expression), the expression parsed."""
    name, sep, expression = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise SweepError(f"--measure takes NAME=EXPRESSION, e.g. "
                         f"'grok_step=first_step(test_acc >= 0.95)'; got {text!r}")
    try:
        parse_measure(expression.strip())
    except ClaimSyntaxError as exc:
        raise SweepError(f"--measure {name}: {exc}") from None
    return name, expression.strip()


# --- the folder ---------------------------------------------------------------------------


@dataclass
class Sweep:
    """A sweep and its folder."""

    out: Path
    recipe: BuiltinRecipe | SourceRecipe
    config: dict[str, Any]
    spec: SweepSpec
    claims: list[str]

    def run_dir(self, cell: dict[str, float], seed: int) -> Path:
        return self.out / "cells" / cell_name(cell) / f"seed{seed}"

    def description(self) -> dict[str, Any]:
        return {"recipe": self.recipe.model_dump(), "config": self.config,
                "sweep": self.spec.model_dump(), "claims": self.claims}

    def start(self) -> None:
        """Write sweep.json, or check that the folder holds this very sweep."""
        path = self.out / SWEEP_FILE
        if path.exists():
            held = json.loads(path.read_text())
            mine = json.loads(json.dumps(self.description()))
            different = sorted(key for key in ("recipe", "config", "sweep")
                               if held.get(key) != mine[key])
            if different:
                raise SweepError(
                    f"{self.out} holds another sweep (its {', '.join(different)} differ); "
                    "resume it with the same options, or write this one elsewhere with --out")
        self.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.description(), indent=2) + "\n")

    @classmethod
    def read(cls, out: Path) -> Sweep:
        path = out / SWEEP_FILE
        if not path.is_file():
            raise SweepError(f"{path} is missing: is {out} a `tycho sweep` folder?")
        held = json.loads(path.read_text())
        recipe = held["recipe"]
        return cls(out=out, recipe=(BuiltinRecipe if "builtin" in recipe else SourceRecipe)(
            **recipe), config=held["config"], spec=SweepSpec(**held["sweep"]),
            claims=held.get("claims", []))

    def runs(self) -> list[tuple[dict[str, float], int]]:
        """Every run of the sweep: (cell, seed), cell by cell."""
        return [(cell, seed) for cell in self.spec.cells() for seed in self.spec.seeds]

    def pending(self) -> list[tuple[dict[str, float], int]]:
        """The runs not done yet (no run.json in their folder)."""
        return [(cell, seed) for cell, seed in self.runs()
                if not (self.run_dir(cell, seed) / "run.json").is_file()]

    def result(self, cell: dict[str, float], seed: int) -> RunResult | None:
        """A done run, read back from its folder (None if it is not done)."""
        folder = self.run_dir(cell, seed)
        if not (folder / "run.json").is_file():
            return None
        body = json.loads((folder / "run.json").read_text())
        metrics = folder / "metrics.json"
        body["metrics"] = json.loads(metrics.read_text()) if metrics.is_file() else {}
        return RunResult.model_validate(body)

    def write(self, run: RunResult) -> None:
        """A finished run into its folder, as `tycho run` writes one."""
        from runner.local import write_run_dir

        config = {**self.config, **(run.cell or {})}
        spec = ObservationSpec(recipe=self.recipe, config=config, seed=run.seed,
                               environment=run.environment)
        write_run_dir(self.run_dir(run.cell or {}, run.seed), spec, run)


# --- running ------------------------------------------------------------------------------


def run_sweep(
    sweep: Sweep,
    *,
    parallel: int = 1,
    threads: int = 1,
    limits: Limits | None = None,
    together: bool = True,
    on_run: Callable[[RunResult, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    launcher: Launcher | None = None,
) -> None:
    """Run the sweep's pending runs in up to `parallel` sandboxes, writing each as it ends.

    A built-in that trains seeds together runs each cell's pending seeds in one
    sandbox. `on_run(run, done, total)` is called after each run is written.
    An exception or `should_stop` stops the runs in progress; what finished is
    kept and a later call resumes.
    """
    sweep.start()
    pending = sweep.pending()
    total = len(sweep.runs())
    done = [total - len(pending)]
    lock = threading.Lock()
    work: dict[str, tuple[dict[str, float], list[int]]] = {}
    for cell, seed in pending:
        work.setdefault(cell_name(cell), (cell, []))[1].append(seed)

    def finished(run: RunResult) -> None:
        sweep.write(run)
        with lock:
            done[0] += 1
            count = done[0]
        if on_run is not None:
            on_run(run, count, total)

    run_cells(sweep.recipe, sweep.config, list(work.values()), parallel=parallel,
              threads=threads, limits=limits, together=together, on_run=finished,
              should_stop=should_stop, launcher=launcher)


def run_cells(
    recipe: BuiltinRecipe | SourceRecipe,
    config: dict[str, Any],
    work: list[tuple[dict[str, float], list[int]]],
    *,
    parallel: int = 1,
    threads: int = 1,
    limits: Limits | None = None,
    together: bool = True,
    on_run: Callable[[RunResult], None],
    should_stop: Callable[[], bool] | None = None,
    launcher: Launcher | None = None,
) -> None:
    """Run each (cell, seeds) of `work` over the base `config` in up to `parallel`
    sandboxes; `on_run` gets every finished run, its `cell` set, on the thread that
    ran it. A run killed by a stop is dropped (nothing to keep)."""
    launcher = launcher or default_launcher(threads)
    limits = limits or Limits()
    leaving = threading.Event()
    batched = together and trains_seeds_together(recipe, launcher)
    groups = [(cell, seeds) for cell, seeds in work] if batched else [
        (cell, [seed]) for cell, seeds in work for seed in seeds]

    def stop() -> bool:
        return leaving.is_set() or (should_stop is not None and should_stop())

    def run_group(cell: dict[str, float], seeds: list[int]) -> None:
        if stop():
            return
        cell_config = {**config, **_config_values(cell)}
        options = dict(threads=threads, limits=limits, should_stop=stop, launcher=launcher)
        if len(seeds) > 1:
            runs = run_seeds_together(recipe, cell_config, seeds, **options)
        else:
            runs = [run_recipe(recipe, cell_config, seeds[0], **options)]
        for run in runs:
            if run.error != STOPPED_ERROR:
                on_run(run.model_copy(update={"cell": cell}))

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(groups) or 1))) as pool:
        futures = [pool.submit(run_group, cell, seeds) for cell, seeds in groups]
        try:
            for future in futures:
                future.result()
        except BaseException:
            leaving.set()  # Ctrl-C or an error: stop the other sandboxes, keep what finished
            raise


def _config_values(cell: dict[str, float]) -> dict[str, float | int]:
    """Knob values as JSON numbers: whole numbers as integers (a width of 64, not 64.0)."""
    return {knob: int(v) if float(v).is_integer() else v for knob, v in cell.items()}


def sweep_results(sweep: Sweep) -> dict[tuple[str, int], RunResult | None]:
    """Every run of the sweep read back from its folder, keyed by (cell name, seed)."""
    return {(cell_name(cell), seed): sweep.result(cell, seed) for cell, seed in sweep.runs()}


def write_measures(sweep: Sweep, metrics: dict[str, Series]) -> Path:
    path = sweep.out / METRICS_FILE
    path.write_text(json.dumps({n: s.model_dump(mode="json") for n, s in metrics.items()}) + "\n")
    return path


# --- verifying ----------------------------------------------------------------------------

def verify_sweep(
    spec: ObservationSpec,
    cells: list[dict[str, float]],
    seeds: list[int],
    *,
    parallel: int = 1,
    threads: int | None = None,
    limits: Limits | None = None,
    on_run: Callable[[RunResult, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    launcher: Launcher | None = None,
) -> tuple[list[RunResult], Judgement]:
    """Re-run `cells` of a sweep observation on (fresh) `seeds` and judge it.

    The judgement is runner.sweep_verdict.judge_sweep's. The runs come back cell
    by cell, in the order of `cells` x `seeds`.
    """
    sweep = spec.sweep
    if sweep is None:
        raise SweepError("this observation is not a sweep")
    threads = threads or author_threads(spec)
    by_key: dict[tuple[str, int], RunResult] = {}
    lock = threading.Lock()

    def finished(run: RunResult) -> None:
        with lock:
            by_key[(cell_name(run.cell or {}), run.seed)] = run
            count = len(by_key)
        if on_run is not None:
            on_run(run, count, len(cells) * len(seeds))

    run_cells(spec.recipe, spec.config, [(cell, list(seeds)) for cell in cells],
              parallel=parallel, threads=threads, limits=limits, on_run=finished,
              should_stop=should_stop, launcher=launcher)
    if should_stop is not None and should_stop():
        raise SweepError("stopped")
    runs = [by_key[(cell_name(cell), seed)] for cell in cells for seed in seeds
            if (cell_name(cell), seed) in by_key]
    if len(runs) < len(cells) * len(seeds):
        raise SweepError("stopped before every cell had run")
    verdict, reason, pass_rates = judge_sweep(spec, cells, runs)
    return runs, Judgement(verdict=verdict, reason=reason, pass_rates=pass_rates)


# --- posting ------------------------------------------------------------------------------


def sweep_observation(directory: Path, *, title: str | None = None, notes: str = "",
                      phenomena: list[str] | None = None, tags: list[str] | None = None,
                      ) -> tuple[ObservationCreate, list[str]]:
    """A finished sweep folder as the body of a post, and what to warn its author of.

    The observation's metrics are the measures against the knobs, its claims the
    sweep's, checked here; its runs are the sweep's own (the first: the claims and
    the summed timings) and then every cell's run with its series.
    """
    sweep = Sweep.read(directory)
    pending = sweep.pending()
    if pending:
        raise SweepError(f"{len(pending)} of {len(sweep.runs())} runs of {directory} have not "
                         "run; resume the sweep with the same `tycho sweep` command first")
    results = sweep_results(sweep)
    metrics = reduce_sweep(sweep.spec, results)
    claims = check_claims(sweep.claims, metrics)
    runs = [run for run in results.values() if run is not None]
    ok = [run for run in runs if run.status == RunStatus.ok]
    warnings = [f"{len(runs) - len(ok)} of {len(runs)} runs failed; their cells have no value"
                ] if len(ok) < len(runs) else []
    warnings += [f"the claim `{c.claim}` fails: {c.detail}" for c in claims if not c.holds]
    environment = ok[0].environment if ok else None
    own = RunResult(
        status=RunStatus.ok, seed=sweep.spec.seeds[0], environment=environment, claims=claims,
        wall_time_s=sum(r.wall_time_s or 0 for r in runs) or None,
        cpu_time_s=sum(r.cpu_time_s or 0 for r in runs) or None,
        peak_memory_mb=max((r.peak_memory_mb or 0 for r in runs), default=None) or None)
    name = getattr(sweep.recipe, "builtin", None) or "a recipe"
    knobs = " and ".join(sweep.spec.grid)
    body = ObservationCreate(
        recipe=sweep.recipe, config=sweep.config, seed=sweep.spec.seeds[0], metrics=metrics,
        claims=sweep.claims, environment=environment, sweep=sweep.spec,
        title=title or f"{name} swept over {knobs}",
        phenomena=phenomena if phenomena is not None else (
            [name] if isinstance(sweep.recipe, BuiltinRecipe) else []),
        tags=list(tags or []), notes=notes, runs=[own, *runs])
    return body, warnings
