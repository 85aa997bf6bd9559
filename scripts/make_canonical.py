"""Write server/canonical/<slug>.json: the canonical observation of each built-in.

Each file is the body of `POST /api/v1/observations` for one sandboxed run of the
phenomenon's default config on seed 0, exactly as `tycho run NAME` makes it.
A fresh `tycho serve` posts them and its worker verifies them.

    python scripts/make_canonical.py                 # every phenomenon
    python scripts/make_canonical.py grokking        # one
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
                             environment=run.environment)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=phenomena.names())
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        body = canonical_body(name)
        order = phenomena.names().index(name) + 1
        path = OUT / f"{order:02d}-{name}.json"
        path.write_text(json.dumps(body.model_dump(mode="json"), separators=(",", ":")) + "\n")
        print(f"{path.relative_to(ROOT)}: {len(body.metrics)} series, "
              f"{path.stat().st_size / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
