"""Comparison of series and the verdict rules of docs/design.md ("Verification")."""

from __future__ import annotations

from runner.compare import compare_series, evaluate_run, judge
from runner.spec import RunResult, Series, Verdict

CLAIMS = ["final(acc) >= 0.9"]
SUBMITTED = {"acc": Series(x=[0, 1], y=[0.5, 0.95])}


def run(seed: int, final: float | None, status: str = "ok") -> RunResult:
    metrics = {} if final is None else {"acc": Series(x=[0, 1], y=[0.5, final])}
    result = RunResult(status=status, seed=seed, metrics=metrics,
                       error="killed: out of memory" if status == "error" else None)
    return evaluate_run(result, CLAIMS)


def verdict(*runs: RunResult):
    return judge(claims=CLAIMS, submitted=SUBMITTED, runs=list(runs))


def test_exact_series_and_differences():
    same = compare_series(SUBMITTED, {"acc": Series(x=[0, 1], y=[0.5, 0.95])})[0]
    assert same.exact and same.max_abs_diff == 0
    off = compare_series(SUBMITTED, {"acc": Series(x=[0, 1], y=[0.5, 0.9])})[0]
    assert not off.exact and abs(off.max_abs_diff - 0.05) < 1e-12
    assert abs(off.max_rel_diff - 0.05 / 0.95) < 1e-12
    missing = compare_series(SUBMITTED, {})[0]
    assert missing.problem == "the re-run did not log it"


def test_verdicts():
    assert verdict(run(0, 0.95)).verdict is Verdict.reproduced
    assert verdict(run(0, 0.8)).verdict is Verdict.not_reproduced
    assert verdict(run(0, None, "error")).verdict is Verdict.error
    four_of_four = verdict(run(0, 0.95), *(run(s, 0.93) for s in (1, 2, 3, 4)))
    assert four_of_four.verdict is Verdict.robust and four_of_four.pass_rates == {CLAIMS[0]: 1.0}
    four_of_five = verdict(run(0, 0.95), run(1, 0.5), *(run(s, 0.93) for s in (2, 3, 4, 5)))
    assert four_of_five.verdict is Verdict.robust  # 80% is enough
    three_of_four = verdict(run(0, 0.95), run(1, 0.5), *(run(s, 0.93) for s in (2, 3, 4)))
    assert three_of_four.verdict is Verdict.fragile and "75%" in three_of_four.reason


def test_a_crashed_fresh_seed_is_named_as_a_crash():
    judgement = verdict(run(0, 0.95), run(1, None, "error"), run(2, 0.93), run(3, 0.93))
    assert judgement.verdict is Verdict.fragile
    assert "fresh seed(s) 1 crashed: killed: out of memory" in judgement.reason


def test_an_inexact_reproduction_names_the_environment_differences():
    from runner.spec import Environment

    author = Environment(python="3.11.7", torch="2.4.1", threads=4)
    rerun = run(0, 0.951).model_copy(update={"environment": Environment(
        python="3.11.7", torch="2.13.0", threads=1)})
    judgement = judge(claims=CLAIMS, submitted=SUBMITTED, runs=[rerun], environment=author)
    assert judgement.verdict is Verdict.reproduced
    assert "torch 2.4.1 vs 2.13.0, threads 4 vs 1" in judgement.reason


def test_a_rerun_uses_the_authors_thread_count_capped_at_the_cores():
    import os

    from runner.reproduce import author_threads
    from runner.spec import Environment, ObservationSpec

    spec = ObservationSpec(recipe={"builtin": "grokking"}, environment=Environment(threads=64))
    assert author_threads(spec) == os.cpu_count()
    assert author_threads(ObservationSpec(recipe={"builtin": "grokking"})) == 1
