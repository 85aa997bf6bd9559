"""How long a verification takes, against one run of the same phenomenon.

For every built-in phenomenon (or those named), on its default config:

- one run: the original seed in the sandbox, alone, as `tycho run` runs it;
- a 1+4-seed verification (the original seed and 4 fresh ones), three ways:
  `sequential` (one sandbox after another, as before), `parallel` (the fresh
  seeds in their own sandboxes beside the original, `--parallel` at once) and
  `parallel+batched` (the fresh seeds trained together in one process where the
  phenomenon can, `Phenomenon.run_batch`);
- each as a multiple of one run; target: parallel+batched <= 1.5x;
- the 4 fresh seeds trained together against the same 4 run one by one (the
  sandboxes' own wall times, from the runs above); target: >= 3x faster.

With `--serve`, also a fresh `tycho serve` (SQLite, its local worker with its
default concurrency and parallelism) timed from start until every canonical
observation has a verdict; target <= 8 minutes on an idle 2-core machine.

    python -m benchmarks.verify                       # every phenomenon (an hour or more)
    python -m benchmarks.verify grokking emergence    # some
    python -m benchmarks.verify --serve --no-phenomena

Each run uses one torch thread, as the canonical observations were made. The
machine's load is printed with the figures: on a busy machine every figure
grows, and the ratios, measured in one run, are what to read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import _support as bench
from runner.reproduce import reproduce
from runner.spec import BuiltinRecipe, ObservationSpec, verification_seeds

FRESH_SEEDS = 4
TARGET_VERIFY_RATIO = 1.5
TARGET_BATCH_SPEEDUP = 3.0
TARGET_SERVE_S = 8 * 60
MODES = {  # name: (parallel sandboxes, fresh seeds trained together)
    "sequential": (1, False),
    "parallel": (None, False),
    "parallel+batched": (None, True),
}


def verify_once(name: str, claims: list[str], parallel: int, together: bool):
    """A 1+4-seed reproduction of the default config; (wall s, runs)."""
    spec = ObservationSpec(recipe=BuiltinRecipe(builtin=name), config={}, seed=0, claims=claims)
    started = time.perf_counter()
    result = reproduce(spec, verification_seeds(0, FRESH_SEEDS), threads=1, parallel=parallel,
                       together=together)
    return time.perf_counter() - started, result.runs


def measure_phenomenon(name: str, parallel: int) -> list[object]:
    from runner import forkserver

    claims = forkserver.shared(1).describe(name)["claims"] if forkserver.supported() else []
    walls, runs = {}, {}
    for mode, (sandboxes, together) in MODES.items():
        walls[mode], runs[mode] = verify_once(name, claims, sandboxes or parallel, together)
        failed = [r.seed for r in runs[mode] if r.status.value != "ok"]
        bench.note(f"{name} {mode}: {walls[mode]:.1f} s"
                   + (f" (seeds {failed} failed: {runs[mode][0].error})" if failed else ""))
    one_run = runs["sequential"][0].wall_time_s  # the original seed, alone in its sandbox
    one_by_one = sum(r.wall_time_s or 0 for r in runs["sequential"][1:])
    batched_runs = [r for r in runs["parallel+batched"][1:]
                    if "batch_seeds" in (r.environment.model_extra if r.environment else {})]
    # A batch's runs share one sandbox: its wall time is each run's (the same figure).
    batches = {tuple(r.environment.model_extra["batch_seeds"]): r.wall_time_s
               for r in batched_runs}
    together = sum(batches.values()) if batches else None
    ratio = walls["parallel+batched"] / one_run
    speedup = one_by_one / together if together else None
    return [name, f"{one_run:.1f}", *(f"{walls[m]:.1f}" for m in MODES),
            *(f"{walls[m] / one_run:.2f}x" for m in MODES),
            "ok" if ratio <= TARGET_VERIFY_RATIO else "MISS",
            f"{one_by_one:.1f}", "-" if together is None else f"{together:.1f}",
            "no run_batch" if speedup is None else f"{speedup:.2f}x",
            "-" if speedup is None else ("ok" if speedup >= TARGET_BATCH_SPEEDUP else "MISS")]


def time_fresh_serve(workdir: Path) -> float:
    """Seconds from starting `tycho serve` until every canonical observation has a verdict."""
    from server.testing import LiveServer

    started = time.perf_counter()
    with LiveServer(database_url=f"sqlite:///{workdir / 'serve.db'}",
                    log_path=workdir / "serve.log", env={"TYCHO_DATA_DIR": str(workdir)},
                    start_timeout_s=120) as server:
        bench.note(f"tycho serve on {server.url}; {bench.load_line()}")
        pending = None
        while pending != 0:
            time.sleep(2)
            items = httpx.get(f"{server.api}/observations", params={"tag": "canonical",
                                                                   "limit": 50}).json()["items"]
            waiting = [o["id"] for o in items if o["verdict"] == "unverified"]
            if len(waiting) != pending:
                done = ", ".join(f"{o['id']} {o['verdict']}" for o in items
                                 if o["verdict"] != "unverified")
                bench.note(f"{time.perf_counter() - started:6.0f} s: {len(items) - len(waiting)}"
                           f" of {len(items)} verdicts ({done})")
            pending = len(waiting) if items else None
        return time.perf_counter() - started


COLUMNS = ["phenomenon", "1 run s", *(f"{m} s" for m in MODES), *(f"{m} /run" for m in MODES),
           "<= 1.5x", "4 one by one s", "4 together s", "speed-up", ">= 3x"]


def main(argv: list[str] | None = None) -> int:
    import os

    import phenomena

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="phenomena (default: all)")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1,
                        help="sandboxes at once for the parallel modes (default: the cores)")
    parser.add_argument("--serve", action="store_true",
                        help="also time a fresh `tycho serve` until the canonical verdicts")
    parser.add_argument("--no-phenomena", action="store_true", help="skip the per-phenomenon runs")
    args = parser.parse_args(argv)

    bench.banner(f"Verification against one run; {bench.load_line()}")
    rows = []
    if not args.no_phenomena:
        for name in args.names or phenomena.names():
            rows.append(measure_phenomenon(name, args.parallel))
        bench.results(f"1+{FRESH_SEEDS} seeds, one torch thread each, {args.parallel} sandboxes "
                      "at once in the parallel modes", COLUMNS, rows,
                      f"\n{bench.load_line()}")
    if args.serve:
        with tempfile.TemporaryDirectory(prefix="tycho-bench-serve-") as tmp:
            seconds = time_fresh_serve(Path(tmp))
        bench.banner(f"a fresh tycho serve: every canonical observation has a verdict after "
                     f"{seconds / 60:.1f} min (target {TARGET_SERVE_S / 60:.0f} min: "
                     f"{'ok' if seconds <= TARGET_SERVE_S else 'MISS'}); {bench.load_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
