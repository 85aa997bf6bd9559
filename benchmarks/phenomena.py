"""Time every built-in phenomenon's default run and check its claims on several seeds.

Each run goes through the sandbox exactly as `tycho run NAME --seed N` does
(one torch thread). Prints a table: phenomenon, wall time and peak memory on
the default seed, and the claims held on each seed.

    python -m benchmarks.phenomena                 # all, seeds 0-5, 2 runs at a time
    python -m benchmarks.phenomena grokking --seeds 0 1 --jobs 1

With `--fresh N`, it also checks the default claims on N seeds never used
while the phenomena were developed (1000, 1001, ...), trained several at a time
(`Phenomenon.run_batch`), as the slow test in tests/phenomena/test_library.py
does, and prints per phenomenon how many hold every claim (target: all).
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:
    # As a script, this file would be the `phenomena` it imports.
    raise SystemExit("run it from the repository as a module: python -m benchmarks.phenomena")

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import phenomena
from runner.compare import evaluate_run
from runner.execute import run_recipe
from runner.spec import BuiltinRecipe


def measure(name: str, seed: int):
    phenomenon = phenomena.get(name)
    started = time.perf_counter()
    run = evaluate_run(run_recipe(BuiltinRecipe(builtin=name), {}, seed), phenomenon.claims)
    return name, seed, run, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=phenomena.names(), help="phenomena to run")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(6)))
    parser.add_argument("--jobs", type=int, default=2,
                        help="runs at once (each uses one core); 1 gives the cleanest timings")
    parser.add_argument("--fresh", type=int, default=0, metavar="N",
                        help="also check the claims on N fresh seeds from 1000 (e.g. 20)")
    args = parser.parse_args()

    tasks = [(name, seed) for name in args.names for seed in args.seeds]
    results = {}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, seed, run, wall in pool.map(lambda task: measure(*task), tasks):
            results[name, seed] = (run, wall)
            held = sum(c.holds for c in run.claims)
            status = run.error if run.status.value == "error" else f"{held}/{len(run.claims)}"
            print(f"  {name} seed {seed}: {wall:.1f} s, {status}", flush=True)

    header = (f"{'phenomenon':24} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}  "
              + " ".join(f"seed{s:<3}" for s in args.seeds) + "  seeds all-hold")
    print("\n" + header + "\n" + "-" * len(header))
    for name in args.names:
        run, wall = results[name, args.seeds[0]]
        cells, all_hold = [], 0
        for seed in args.seeds:
            seed_run, _ = results[name, seed]
            held = sum(c.holds for c in seed_run.claims)
            cells.append(f"{held}/{len(seed_run.claims)}".ljust(7))
            all_hold += seed_run.status.value == "ok" and held == len(seed_run.claims)
        print(f"{name:24} {wall:7.1f} {run.cpu_time_s or 0:7.1f} {run.peak_memory_mb or 0:8.0f}  "
              + " ".join(cells) + f"  {all_hold}/{len(args.seeds)}")
    print(f"\n(wall and cpu for seed {args.seeds[0]}; {args.jobs} run(s) at a time)")
    if args.fresh:
        from runner.robustness import failing_claims, runs_on_seeds

        seeds = list(range(1000, 1000 + args.fresh))
        print(f"\n{'phenomenon':24} {'wall s':>7}  fresh seeds {seeds[0]}-{seeds[-1]}: "
              "every claim holds")
        for name in args.names:
            started = time.perf_counter()
            runs = runs_on_seeds(name, seeds, phenomena.get(name).claims)
            failing = failing_claims(runs)
            print(f"{name:24} {time.perf_counter() - started:7.1f}  "
                  f"{len(runs) - len(failing)}/{len(runs)}"
                  + (f"   failing: {failing}" if failing else ""), flush=True)


if __name__ == "__main__":
    main()
