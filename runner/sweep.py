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
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.claims import ClaimSyntaxError, measure, parse_measure
from runner.execute import (
    STOPPED_ERROR,
    Launcher,
    Limits,
    default_launcher,
    run_recipe,
    run_seeds_together,
)
from runner.reproduce import trains_seeds_together
from runner.spec import (
    BuiltinRecipe,
    ObservationSpec,
    RunResult,
    Series,
    SourceRecipe,
    SweepSpec,
)

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


def cell_name(cell: dict[str, float]) -> str:
    """A cell's folder name: `weight_decay=0.1,train_fraction=0.3`."""
    return ",".join(f"{knob}={value:g}" for knob, value in cell.items())


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
    launcher = launcher or default_launcher(threads)
    limits = limits or Limits()
    pending = sweep.pending()
    total = len(sweep.runs())
    done = [total - len(pending)]
    lock = threading.Lock()
    leaving = threading.Event()
    batched = together and trains_seeds_together(sweep.recipe, launcher)
    groups: dict[str, tuple[dict[str, float], list[int]]] = {}
    for cell, seed in pending:
        if batched:
            groups.setdefault(cell_name(cell), (cell, []))[1].append(seed)
        else:
            groups[f"{cell_name(cell)}/{seed}"] = (cell, [seed])

    def stop() -> bool:
        return leaving.is_set() or (should_stop is not None and should_stop())

    def run_group(cell: dict[str, float], seeds: list[int]) -> None:
        if stop():
            return
        config = {**sweep.config, **_config_values(cell)}
        options = dict(threads=threads, limits=limits, should_stop=stop, launcher=launcher)
        if len(seeds) > 1:
            runs = run_seeds_together(sweep.recipe, config, seeds, **options)
        else:
            runs = [run_recipe(sweep.recipe, config, seeds[0], **options)]
        for run in runs:
            if run.error == STOPPED_ERROR:
                continue  # killed by the stop: nothing to keep, run it on resuming
            run = run.model_copy(update={"cell": cell})
            sweep.write(run)
            with lock:
                done[0] += 1
                count = done[0]
            if on_run is not None:
                on_run(run, count, total)

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(groups) or 1))) as pool:
        futures = [pool.submit(run_group, cell, seeds) for cell, seeds in groups.values()]
        try:
            for future in futures:
                future.result()
        except BaseException:
            leaving.set()  # Ctrl-C or an error: stop the other sandboxes, keep what finished
            raise


def _config_values(cell: dict[str, float]) -> dict[str, float | int]:
    """Knob values as JSON numbers: whole numbers as integers (a width of 64, not 64.0)."""
    return {knob: int(v) if float(v).is_integer() else v for knob, v in cell.items()}


# --- reducing -----------------------------------------------------------------------------


def reduce_sweep(spec: SweepSpec, results: dict[tuple[str, int], RunResult | None]
                 ) -> dict[str, Series]:
    """The measures against the knobs, from the runs (keyed by (cell name, seed)).

    A run that failed or is missing, or a measure that cannot be had on it (a
    condition never reached), gives no value; a cell's value is the mean of its
    seeds' values (null when none has one), and with several seeds NAME_min and
    NAME_max hold the spread. One knob: series against that knob; two: grid
    series over (first knob, second knob).
    """
    knobs = list(spec.grid)
    cells = spec.cells()
    series: dict[str, Series] = {}
    for name, expression in spec.measures.items():
        per_cell = []
        for cell in cells:
            values = []
            for seed in spec.seeds:
                run = results.get((cell_name(cell), seed))
                if run is not None and run.status.value == "ok":
                    value, _ = measure(expression, run.metrics)
                    if value is not None:
                        values.append(value)
            per_cell.append(values)
        reductions = {name: [float(np.mean(v)) if v else None for v in per_cell]}
        if len(spec.seeds) > 1:
            reductions[f"{name}_min"] = [min(v) if v else None for v in per_cell]
            reductions[f"{name}_max"] = [max(v) if v else None for v in per_cell]
        for key, ys in reductions.items():
            axes = {"x": [c[knobs[0]] for c in cells], "axis": knobs[0]}
            if len(knobs) == 2:
                axes.update(x2=[c[knobs[1]] for c in cells], axis2=knobs[1])
            series[key] = Series(y=[None if v is None or not math.isfinite(v) else v
                                    for v in ys], **axes)
    return series


def sweep_results(sweep: Sweep) -> dict[tuple[str, int], RunResult | None]:
    """Every run of the sweep read back from its folder, keyed by (cell name, seed)."""
    return {(cell_name(cell), seed): sweep.result(cell, seed) for cell, seed in sweep.runs()}


def write_measures(sweep: Sweep, metrics: dict[str, Series]) -> Path:
    path = sweep.out / METRICS_FILE
    path.write_text(json.dumps({n: s.model_dump(mode="json") for n, s in metrics.items()}) + "\n")
    return path
