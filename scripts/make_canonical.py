"""Write server/canonical/<slug>.json: the canonical observation of each built-in.

Each file is the body of `POST /api/v1/observations` for one sandboxed run of the
phenomenon's default config on seed 0, exactly as `tycho run NAME` makes it.
A fresh `tycho serve` posts them and its worker verifies them.

    python scripts/make_canonical.py                 # every phenomenon
    python scripts/make_canonical.py grokking        # one
    python scripts/make_canonical.py --sweeps        # the built-in sweeps (phenomena/sweeps.py)

A built-in sweep's file holds the sweep run on seed 0 (every cell), as `tycho sweep
NAME` and `tycho post` of its folder make it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import phenomena
from runner.local import run_locally
from runner.spec import BuiltinRecipe, ObservationCreate

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "server" / "canonical"


def canonical_body(name: str) -> ObservationCreate:
    phenomenon = phenomena.get(name)
    run = run_locally(BuiltinRecipe(builtin=name), {}, 0, phenomenon.claims)
    if run.status.value != "ok":
        raise SystemExit(f"{name}: the default run failed: {run.error}")
    failed = [c.claim for c in run.claims if not c.holds]
    if failed:
        raise SystemExit(f"{name}: default claims fail on seed 0: {failed}")
    notes = (f"{phenomenon.summary}\n\nThe canonical run of Tycho's built-in `{name}` recipe: "
             f"the default config on seed 0. Re-run it with `tycho run {name}`; "
             f"docs/phenomena/{name}.md explains the probes and the claims.")
    return ObservationCreate(title=phenomenon.title, phenomena=[name], tags=["canonical"],
                             notes=notes, recipe=BuiltinRecipe(builtin=name), config={},
                             seed=0, metrics=run.metrics, claims=phenomenon.claims,
                             environment=run.environment, groups=phenomenon.groups)


def canonical_sweep(name: str, folder: Path) -> ObservationCreate:
    from phenomena.sweeps import BUILTIN_SWEEPS
    from runner.local import resolve_target
    from runner.spec import SweepSpec
    from runner.sweep import Sweep, run_sweep, sweep_observation

    preset = BUILTIN_SWEEPS[name]
    sweep = Sweep(out=folder, recipe=resolve_target(preset["target"]),
                  config=preset.get("config", {}), claims=preset["claims"],
                  spec=SweepSpec(grid=preset["grid"], seeds=list(range(preset["seeds"])),
                                 measures=preset["measures"]))
    run_sweep(sweep, parallel=2)
    notes = (f"The built-in sweep `{name}`: {preset['about']}.\n\nRe-run it with "
             f"`tycho sweep {name}`; docs/sweeps.md explains sweeps and how they are verified.")
    body, warnings = sweep_observation(folder, title=preset["title"], notes=notes,
                                       phenomena=[preset["target"]], tags=["canonical", "sweep"])
    if warnings:
        raise SystemExit(f"{name}: {warnings}")
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--sweeps", action="store_true", help="the built-in sweeps")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.sweeps:
        import tempfile

        from phenomena.sweeps import BUILTIN_SWEEPS

        for name in args.names or list(BUILTIN_SWEEPS):
            with tempfile.TemporaryDirectory() as folder:
                body = canonical_sweep(name, Path(folder))
            order = len(phenomena.names()) + list(BUILTIN_SWEEPS).index(name) + 1
            path = OUT / f"{order:02d}-sweep-{name}.json"
            path.write_text(json.dumps(body.model_dump(mode="json"), separators=(",", ":")))
            print(f"{path.relative_to(ROOT)}: {len(body.runs) - 1} cell runs, "
                  f"{path.stat().st_size / 1024:.0f} KiB", file=sys.stderr)
        return
    for name in args.names or phenomena.names():
        body = canonical_body(name)
        order = phenomena.names().index(name) + 1
        path = OUT / f"{order:02d}-{name}.json"
        path.write_text(json.dumps(body.model_dump(mode="json"), separators=(",", ":")) + "\n")
        print(f"{path.relative_to(ROOT)}: {len(body.metrics)} series, "
              f"{path.stat().st_size / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
