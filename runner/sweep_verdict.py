"""A sweep's numbers and its verdict: each run reduced by the measures, and the
judgement of a sweep from re-runs of some of its cells (docs/sweeps.md).

Kept apart from runner.sweep (which runs sandboxes) because both sides need it:
the worker judges the cells it ran, and the registry judges a sweep whose cells
several workers re-ran. It uses only the wire schemas and the claim language.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from runner.claims import check_claims, measure
from runner.spec import ObservationSpec, RunResult, RunStatus, Series, SweepSpec, Verdict


def cell_name(cell: dict[str, float]) -> str:
    """A cell's folder name: `weight_decay=0.1,train_fraction=0.3`."""
    return ",".join(f"{knob}={value:g}" for knob, value in cell.items())


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



# --- judging ------------------------------------------------------------------------------

# A re-measured cell agrees with the posted one when its value lies within the
# posted seeds' range (or the posted value), widened by this fraction of the
# posted value's size: a fresh seed is another draw, not a bitwise re-run.
AGREE_REL = 0.25



class SweepVerdict(NamedTuple):
    verdict: Verdict
    reason: str
    pass_rates: dict[str, float]


def judge_sweep(spec: ObservationSpec, cells: list[dict[str, float]],
                runs: list[RunResult]) -> SweepVerdict:
    """The verdict on a sweep from re-runs of some of its cells (see verify_sweep)."""
    sweep = spec.sweep
    knobs = list(sweep.grid)
    ok = [run for run in runs if run.status == RunStatus.ok]
    checked = ", ".join(f"({cell_name(cell)})" for cell in cells)
    seeds = sorted({run.seed for run in runs})
    where = f"re-ran {len(cells)} of {len(sweep.cells())} cells on fresh seed" \
            f"{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}: {checked}"
    if not ok:
        errors = "; ".join(f"{cell_name(r.cell or {})}: {r.error}" for r in runs[:3])
        return SweepVerdict(Verdict.error, f"{where}; no run finished ({errors})", {})
    remeasured = reduce_sweep(
        SweepSpec(grid=sweep.grid, seeds=seeds, measures=sweep.measures),
        {(cell_name(run.cell or {}), run.seed): run for run in runs})
    ys = {name: list(series.y) for name, series in spec.metrics.items()}
    disagreements = []
    for name in sweep.measures:
        posted = spec.metrics.get(name)
        fresh = remeasured[name]
        if posted is None:
            continue
        index = _cell_index(posted, knobs)
        fresh_index = _cell_index(fresh, knobs)
        for cell in cells:
            key = tuple(cell[k] for k in knobs)
            i, j = index.get(key), fresh_index.get(key)
            if i is None or j is None:
                continue
            value, was = fresh.y[j], posted.y[i]
            low = _posted(spec.metrics, f"{name}_min", index, key, was)
            high = _posted(spec.metrics, f"{name}_max", index, key, was)
            if not _agrees(value, was, low, high):
                disagreements.append(f"{name} at ({cell_name(cell)}) is {_show(value)}, "
                                     f"posted {_show(was)}")
            ys[name][i] = value
            for suffix, pick in (("_min", min), ("_max", max)):
                bound = ys.get(name + suffix)
                if bound is not None and value is not None and bound[i] is not None:
                    bound[i] = pick(bound[i], value)
    metrics = {name: Series(x=series.x, y=ys[name], axis=series.axis, x2=series.x2,
                            axis2=series.axis2) for name, series in spec.metrics.items()}
    results = check_claims(spec.claims, metrics)
    failed = [r for r in results if not r.holds]
    pass_rates = {r.claim: 1.0 if r.holds else 0.0 for r in results}
    agree = f"{len(cells) - len({d.split(' at ')[1] for d in disagreements})} of " \
            f"{len(cells)} cells agree with the posted values"
    if failed:
        verdict = Verdict.not_reproduced
        reason = (f"{where}; with the re-measured values in place, "
                  + "; ".join(f"`{r.claim}` fails ({r.detail})" for r in failed[:3]))
    elif disagreements:
        verdict = Verdict.fragile
        reason = f"{where}; every claim holds, but {'; '.join(disagreements[:4])}"
    else:
        verdict = Verdict.robust
        reason = f"{where}; {agree}, and every claim holds with them in place"
    return SweepVerdict(verdict, reason, pass_rates)


def _cell_index(series: Series, knobs: list[str]) -> dict[tuple[float, ...], int]:
    coords = [series.x] + ([series.x2] if len(knobs) == 2 and series.x2 is not None else [])
    return {tuple(values): i for i, values in enumerate(zip(*coords))}


def _posted(metrics: dict[str, Series], name: str, index: dict, key: tuple,
            default: float | None) -> float | None:
    series = metrics.get(name)
    if series is None or index.get(key) is None or index[key] >= len(series.y):
        return default
    return series.y[index[key]]


def _agrees(value: float | None, was: float | None, low: float | None,
            high: float | None) -> bool:
    if value is None or was is None:
        return value is None and was is None  # e.g. never grokked, then or now
    low = was if low is None else low
    high = was if high is None else high
    margin = AGREE_REL * max(abs(low), abs(high), abs(was))
    return low - margin <= value <= high + margin


def _show(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


