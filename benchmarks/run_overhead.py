"""What `tycho run NAME` costs beyond the recipe itself, for every built-in phenomenon.

Runs `tycho run NAME` as a person would (a new process, which starts the warm
fork server first thing, checks the config through it, runs the recipe in a
forked sandbox, writes the run directory and leaves the plots to a background
process) and prints, per phenomenon: the command's wall time, the recipe's own
time (from its call to its return, as the sandbox measured it and recorded it
in run.json as `recipe_time_s`), and the difference, the time spent outside
the recipe. Target (issue 10): at most 2 s outside the recipe on an idle 2-core
machine. The load average is printed beside the figures: on a busy machine
every figure grows.

    python -m benchmarks.run_overhead                  # every built-in, full size
    python -m benchmarks.run_overhead --quick          # quick configs: the same overhead, sooner
    python -m benchmarks.run_overhead grokking emergence --repeat 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._support import REPO, done, load_line, results
from runner.spec import BUILTIN_RECIPES


def measure(name: str, quick: bool, workdir: Path) -> tuple[float, float]:
    """(wall s of `tycho run NAME`, the recipe's own s) for one fresh command."""
    out = workdir / f"{name}-{time.monotonic_ns()}"
    command = [sys.executable, "-m", "tycho.cli", "run", name, "--out", str(out)]
    started = time.perf_counter()
    ran = subprocess.run(command + (["--quick"] if quick else []), capture_output=True,
                         text=True, cwd=REPO)
    wall = time.perf_counter() - started
    if ran.returncode not in (0, 1):  # 1: a claim failed, which costs no more
        raise SystemExit(f"tycho run {name} failed:\n{ran.stderr[-3000:]}")
    recipe = json.loads((out / "run.json").read_text())["recipe_time_s"]
    return wall, recipe


def import_torch() -> float:
    """Wall seconds of a fresh interpreter importing torch: the floor of any command that
    runs a torch recipe in a new process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True, cwd=REPO)
    return time.perf_counter() - started


def _remove(tmp: Path) -> None:
    """Remove the runs, once their background plot processes have let go of them."""
    for _ in range(40):
        shutil.rmtree(tmp, ignore_errors=True)
        if not tmp.exists():
            return
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=list(BUILTIN_RECIPES))
    parser.add_argument("--quick", action="store_true", help="the quick configs")
    parser.add_argument("--repeat", type=int, default=1, help="runs per phenomenon (median)")
    args = parser.parse_args()
    print(f"tycho run: time outside the recipe; {load_line()}", flush=True)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="tycho-overhead-"))
    try:
        for name in args.names:
            samples = [measure(name, args.quick, tmp) for _ in range(args.repeat)]
            wall = statistics.median(s[0] for s in samples)
            recipe = statistics.median(s[1] for s in samples)
            floor = statistics.median(import_torch() for _ in range(args.repeat))
            rows.append([name, f"{wall:.2f}", f"{recipe:.2f}", f"{wall - recipe:.2f}",
                         f"{floor:.2f}", f"{wall - recipe - floor:+.2f}",
                         f"{load_line().split(' (')[0].split('average ')[1]}"])
            print(f"  {name}: {wall:.2f} s wall, {recipe:.2f} s recipe, "
                  f"{floor:.2f} s to import torch", flush=True)
    finally:
        _remove(tmp)
    results(f"tycho run NAME{' --quick' if args.quick else ''} (median of {args.repeat})",
            ["phenomenon", "wall s", "recipe s", "outside s", "import torch s",
             "outside - import", "load (1/5/15 min)"], rows,
            "wall: the whole command, process start to exit; recipe: the recipe's call to its "
            "return in the sandbox (run.json recipe_time_s); outside: the difference "
            "(interpreter and imports, fork server start, config check, sandbox set-up, "
            "claims, run directory); import torch: a fresh interpreter importing torch, "
            "measured beside each row (no process can run a torch recipe in less), and what "
            "the command spends beyond it. Target: outside <= 2 s on an idle 2-core machine.")
    return done()


if __name__ == "__main__":
    raise SystemExit(main())
