"""Compare a reproduced run with a submitted one, and turn runs into a verdict.

The verdict rules are those of docs/design.md ("Verification"): `reproduced`
when every claim holds on the original seed; `robust` when, besides, every
claim holds on at least ROBUST_PASS_RATE of the fresh seeds; `fragile` when reproduced but not robust;
`not-reproduced` when a claim fails on the original seed; `error` when the
original-seed run itself failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field

from runner.claims import check_claims, series_arrays
from runner.spec import (
    ClaimResult,
    Environment,
    RunResult,
    RunStatus,
    Series,
    SeriesComparison,
    Verdict,
)

# docs/design.md, "Verification": "robust (reproduced, and every claim holds on at least 80% of fresh seeds)".
ROBUST_PASS_RATE = 0.8
# Without claims, the series themselves are the observation: they count as
# reproduced when no point differs by more than this relative amount.
SERIES_REL_TOLERANCE = 1e-6


class Judgement(BaseModel):
    """What a set of runs (original seed first) says about an observation."""

    verdict: Verdict
    # claim -> fraction of fresh seeds on which it held (absent without fresh seeds)
    pass_rates: dict[str, float] = Field(default_factory=dict)
    comparisons: list[SeriesComparison] = Field(default_factory=list)
    reason: str = ""


def compare_series(
    submitted: Mapping[str, Series], reproduced: Mapping[str, Series]
) -> list[SeriesComparison]:
    """Per submitted series: bitwise `exact`, else the largest abs/rel difference."""
    comparisons = []
    for name, original in submitted.items():
        if name not in reproduced:
            comparisons.append(
                SeriesComparison(name=name, exact=False, problem="the re-run did not log it")
            )
            continue
        x0, y0 = series_arrays(original)
        x1, y1 = series_arrays(reproduced[name])
        problem = None
        if x0.shape != x1.shape or not np.array_equal(x0, x1):
            shared, i0, i1 = np.intersect1d(x0, x1, return_indices=True)
            problem = (
                f"indices differ ({x0.size} submitted, {x1.size} re-run); "
                f"compared on the {shared.size} shared ones"
            )
            y0, y1 = y0[i0], y1[i1]
        # Bitwise: the same float64 bits, NaN where NaN.
        exact = problem is None and y0.tobytes() == y1.tobytes()
        both = np.isfinite(y0) & np.isfinite(y1)
        nan_mismatch = bool(np.any(np.isfinite(y0) != np.isfinite(y1)))
        if nan_mismatch:
            note = "NaN in one run where the other has a number"
            problem = f"{problem}; {note}" if problem else note
        abs_diff = rel_diff = None
        if both.any():
            delta = np.abs(y0[both] - y1[both])
            scale = np.maximum(np.abs(y0[both]), np.finfo(np.float64).tiny)
            abs_diff = float(delta.max())
            rel_diff = float((delta / scale).max())
        comparisons.append(
            SeriesComparison(
                name=name,
                exact=exact,
                max_abs_diff=abs_diff,
                max_rel_diff=rel_diff,
                problem=problem,
            )
        )
    return comparisons


def evaluate_run(run: RunResult, claims: Sequence[str]) -> RunResult:
    """The run with every claim evaluated on its series (an error run fails them all)."""
    if run.status is RunStatus.error:
        results = [
            ClaimResult(claim=c, holds=False, detail=f"the run failed: {run.error or 'error'}")
            for c in claims
        ]
    else:
        results = check_claims(claims, run.metrics)
    return run.model_copy(update={"claims": results})


def judge(
    *,
    claims: Sequence[str],
    submitted: Mapping[str, Series],
    runs: Sequence[RunResult],
    environment: Environment | None = None,
) -> Judgement:
    """The verdict for runs whose first is the original seed (claims already evaluated).

    `environment` is the author's: when the series are not bitwise equal and the
    re-run's environment differs, the reason says so (exact equality is expected
    only between equal fingerprints).
    """
    judgement = _judge(claims=claims, submitted=submitted, runs=runs)
    original = runs[0].environment
    inexact = any(not c.exact for c in judgement.comparisons)
    if inexact and environment is not None and original is not None:
        differs = environment_differences(environment, original)
        if differs:
            judgement.reason += (f"; the series are not bitwise equal, as expected between "
                                 f"different environments ({differs})")
    return judgement


def environment_differences(author: Environment, rerun: Environment) -> str:
    """'torch 2.4.1 vs 2.13.0, threads 4 vs 1', or '' when the fingerprints agree."""
    names = ("python", "torch", "numpy", "platform", "cpu", "threads")
    return ", ".join(
        f"{name} {getattr(author, name)} vs {getattr(rerun, name)}"
        for name in names
        if getattr(author, name) is not None and getattr(author, name) != getattr(rerun, name)
    )


def _judge(
    *,
    claims: Sequence[str],
    submitted: Mapping[str, Series],
    runs: Sequence[RunResult],
) -> Judgement:
    if not runs:
        raise ValueError("judge() needs at least the original-seed run")
    original, fresh = runs[0], runs[1:]
    if original.status is RunStatus.error:
        return Judgement(
            verdict=Verdict.error, reason=f"the original-seed run failed: {original.error}"
        )
    comparisons = compare_series(submitted, original.metrics)
    pass_rates = {}
    if fresh:
        for i, claim in enumerate(claims):
            held = sum(1 for run in fresh if run.claims and run.claims[i].holds)
            pass_rates[claim] = held / len(fresh)
    if claims:
        failed = [r for r in original.claims if not r.holds]
        if failed:
            reason = "; ".join(f"{r.claim}: {r.detail}" for r in failed)
            return Judgement(
                verdict=Verdict.not_reproduced,
                pass_rates=pass_rates,
                comparisons=comparisons,
                reason=f"on the original seed {reason}",
            )
    else:
        off = [c for c in comparisons if not _close(c)]
        if off:
            names = ", ".join(c.name for c in off)
            return Judgement(
                verdict=Verdict.not_reproduced,
                comparisons=comparisons,
                reason=f"no claims, and these series differ: {names}",
            )
        return Judgement(
            verdict=Verdict.reproduced,
            comparisons=comparisons,
            reason="no claims; the series match",
        )
    if not fresh:
        return Judgement(
            verdict=Verdict.reproduced,
            comparisons=comparisons,
            reason="every claim holds on the original seed",
        )
    weak = {c: r for c, r in pass_rates.items() if r < ROBUST_PASS_RATE}
    # A fresh seed that crashed counts against every claim; say so, not just a rate.
    crashed = [run for run in fresh if run.status is RunStatus.error]
    crash_note = ""
    if crashed:
        seeds = ", ".join(str(run.seed) for run in crashed)
        crash_note = f"; fresh seed(s) {seeds} crashed: {crashed[0].error}"
    if weak:
        worst = ", ".join(f"{c} ({r:.0%})" for c, r in weak.items())
        return Judgement(
            verdict=Verdict.fragile,
            pass_rates=pass_rates,
            comparisons=comparisons,
            reason=f"holds on the original seed, but on fewer than "
            f"{ROBUST_PASS_RATE:.0%} of {len(fresh)} fresh seeds: {worst}{crash_note}",
        )
    return Judgement(
        verdict=Verdict.robust,
        pass_rates=pass_rates,
        comparisons=comparisons,
        reason=f"every claim holds on the original seed and on at least "
        f"{ROBUST_PASS_RATE:.0%} of {len(fresh)} fresh seeds{crash_note}",
    )


def _close(comparison: SeriesComparison) -> bool:
    if comparison.exact:
        return True
    if comparison.problem is not None or comparison.max_rel_diff is None:
        return False
    return comparison.max_rel_diff <= SERIES_REL_TOLERANCE
