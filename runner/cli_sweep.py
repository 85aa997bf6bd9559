"""`tycho sweep`: run a recipe over a grid of knobs and seeds, reduce, check, and post it.

    tycho sweep grokking --grid weight_decay=0,0.1,1,5 --grid train_fraction=0.2:0.7:6 \\
        --seeds 2 --measure "grok_step=first_step(test_acc >= 0.95)"
    tycho sweep edge-of-stability-lr          # a built-in sweep (phenomena/sweeps.py)
    tycho post tycho-sweeps/grokking-weight_decay-train_fraction

The folder layout, resuming and the reduction are runner.sweep's; what a sweep
observation is and how it is verified is docs/sweeps.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from runner.cli_common import (
    ServerOpt,
    TokenOpt,
    console,
    errors,
    fail,
    fail_registry,
    make_client,
)
from runner.client import TychoError, default_server

SWEEPS_DIR = Path("tycho-sweeps")


def sweep(
    target: Annotated[str, typer.Argument(
        help="A built-in phenomenon (grokking), a recipe file (my_toy.py[:fn]), or a "
             "built-in sweep (see --list).")] = "",
    grid: Annotated[list[str], typer.Option(
        help="A knob and its values: KNOB=a,b,c or KNOB=start:stop:count (1 or 2 of them).")] = [],
    seeds: Annotated[Optional[int], typer.Option(
        help="Seeds per cell: --seed, --seed+1, ... (default 1; a built-in sweep's own).")] = None,
    seed: Annotated[int, typer.Option(help="The first seed.")] = 0,
    measure: Annotated[list[str], typer.Option(
        help="NAME=EXPRESSION reducing each run to a number, in the claim language "
             "(e.g. 'grok_step=first_step(test_acc >= 0.95)'). Repeat.")] = [],
    claim: Annotated[list[str], typer.Option(
        help="A claim over the measures (e.g. 'argmax(peak) >= 0.5'). Repeat.")] = [],
    set_: Annotated[list[str], typer.Option("--set", help="Base config key=value (repeat).")] = [],
    out: Annotated[Optional[Path], typer.Option(
        help="The sweep folder (default tycho-sweeps/NAME-KNOB[-KNOB2]). Re-running the same "
             "command resumes it.")] = None,
    parallel: Annotated[Optional[int], typer.Option(
        help="Runs at once, each in its own sandbox (default: the machine's cores).")] = None,
    threads: Annotated[int, typer.Option(help="torch threads per run.")] = 1,
    server: Annotated[Optional[str], typer.Option(
        "--server", help="Run the cells on this registry's workers instead of here (its URL, "
                         "e.g. $TYCHO_SERVER; needs TYCHO_TOKEN). The runs come back into "
                         "--out as they finish.")] = None,
    token: TokenOpt = None,
    list_: Annotated[bool, typer.Option("--list", help="List the built-in sweeps.")] = False,
) -> None:
    """Run every cell of a grid of config knobs, on every seed, and reduce each run to numbers.

    Each run is written like `tycho run` writes one, under OUT/cells/, as soon as it
    ends; interrupting and re-running the same command resumes the sweep (cells
    already done are not run again). At the end the measures against the knobs go
    to OUT/metrics.json, a table of them is printed, and the claims are checked on
    them. `tycho post OUT` posts the sweep as one observation. Exits 0 if every claim
    holds, 1 if one fails, 2 if the sweep could not be run.

    With --server URL the cells are queued as jobs on that registry, which any number
    of `tycho worker` processes pick up; this command collects each run into OUT as it
    finishes (interrupt it and run it again to go on collecting).

    Example: tycho sweep grokking --grid weight_decay=0,1 --grid train_fraction=0.3,0.5
    --measure "grok_step=first_step(test_acc >= 0.95)" --claim "at(grok_step, 1, 0.3) < 500"
    """
    from phenomena.sweeps import BUILTIN_SWEEPS
    from runner.claims import ClaimSyntaxError, validate_claim
    from runner.local import TargetError, describe_builtin, did_you_mean, parse_overrides, \
        resolve_target
    from runner.spec import SweepSpec
    from runner.sweep import Sweep, SweepError, parse_grid, parse_measure_option

    if list_:
        for name, preset in BUILTIN_SWEEPS.items():
            console.print(f"[bold]{name}[/bold]: {preset['about']}", highlight=False)
        raise typer.Exit(0)
    if not target:
        fail("name a phenomenon, a recipe file or a built-in sweep (tycho sweep --list)")
    preset = BUILTIN_SWEEPS.get(target, {})
    try:
        if preset:
            grids = dict(preset["grid"])
            grids.update(parse_grid(text) for text in grid)
            measures = {**preset["measures"], **dict(parse_measure_option(m) for m in measure)}
            claims = list(preset["claims"]) + [c for c in claim if c not in preset["claims"]]
            config = {**preset.get("config", {}), **parse_overrides(set_)}
            recipe = resolve_target(preset["target"])
            count = seeds if seeds is not None else preset.get("seeds", 1)
        else:
            if not grid and (close := did_you_mean(target, list(BUILTIN_SWEEPS))):
                fail(f"{target!r} is not a built-in sweep{close}")
            recipe = resolve_target(target)
            if not grid:
                fail("give the knobs to sweep with --grid KNOB=a,b,c (or name a built-in "
                     "sweep: tycho sweep --list)")
            grids = dict(parse_grid(text) for text in grid)
            measures = dict(parse_measure_option(m) for m in measure)
            claims = list(claim)
            config = parse_overrides(set_)
            count = seeds if seeds is not None else 1
        if not measures:
            fail("give at least one --measure NAME=EXPRESSION: what each run is reduced to")
        spec = SweepSpec(grid=grids, seeds=[seed + i for i in range(count)], measures=measures)
        names = [*spec.measures, *(f"{m}_{s}" for m in spec.measures for s in ("min", "max")
                                   if len(spec.seeds) > 1)]
        if getattr(recipe, "builtin", None):  # a knob the phenomenon does not have, now
            describe_builtin(recipe.builtin, {**config, **spec.cells()[0]})
        for text in claims:
            validate_claim(text, names)
    except (SweepError, TargetError, ValueError) as exc:
        fail(str(getattr(exc, "message", None) or exc))
    except ClaimSyntaxError as exc:  # pragma: no cover - a ValueError above already
        fail(f"the claim does not parse: {exc}")
    name = target if preset else getattr(recipe, "builtin", None) or Path(
        target.partition(":")[0]).stem
    folder = out or SWEEPS_DIR / "-".join([name, *([] if preset else spec.grid)])
    sweep_ = Sweep(out=folder, recipe=recipe, config=config, spec=spec, claims=claims)
    if server:
        run_sweep_on_server(sweep_, server=server, token=token)
    run_sweep_here(sweep_, parallel=parallel, threads=threads)


def run_sweep_here(sweep, *, parallel: int | None, threads: int) -> None:
    """Run a sweep on this machine with a line per finished run; reduce, print, exit."""
    import os

    from runner.sweep import SweepError, cell_name, run_sweep

    parallel = parallel or os.cpu_count() or 1
    total, pending = len(sweep.runs()), len(sweep.pending())
    knobs = " x ".join(f"{k} ({len(v)})" for k, v in sweep.spec.grid.items())
    again = f", resuming: {total - pending} done" if pending < total else ""
    errors.print(f"sweep of {knobs}, {len(sweep.spec.seeds)} seed(s): {total} runs, "
                 f"{parallel} at once -> {sweep.out}{again}", highlight=False)
    started = time.monotonic()

    def on_run(run, done: int, count: int) -> None:
        took = f"{run.wall_time_s:.1f} s" if run.wall_time_s else ""
        status = "ok" if run.status.value == "ok" else f"[red]{run.status.value}[/red]"
        errors.print(f"[{done}/{count}] {cell_name(run.cell or {})} seed {run.seed}: {status} "
                     f"{took}", highlight=False)

    try:
        run_sweep(sweep, parallel=parallel, threads=threads, on_run=on_run)
    except KeyboardInterrupt:
        kept = total - len(sweep.pending())
        fail(f"interrupted: {kept} of {total} runs kept in {sweep.out}; run the same command "
             "to resume", code=130)
    except SweepError as exc:
        fail(str(exc))
    finish_sweep(sweep, started)


def finish_sweep(sweep, started: float) -> None:
    """Reduce a finished sweep, print its table and claims, and exit 0 (all hold) or 1."""
    from runner.claims import check_claims
    from runner.sweep import reduce_sweep, sweep_results, write_measures

    total = len(sweep.runs())
    results = sweep_results(sweep)
    metrics = reduce_sweep(sweep.spec, results)
    path = write_measures(sweep, metrics)
    failed = [key for key, run in results.items() if run is None or run.status.value != "ok"]
    console.print(measures_table(sweep.spec, metrics))
    console.print(f"{total} runs in {time.monotonic() - started:.0f} s -> {path}"
                  + (f"; {len(failed)} failed: " + ", ".join(f"{c} seed {s}" for c, s in
                                                             failed[:5]) if failed else ""),
                  highlight=False)
    claims = check_claims(sweep.claims, metrics)
    (sweep.out / "claims.json").write_text(
        json.dumps([c.model_dump(mode="json") for c in claims], indent=2) + "\n")
    if claims:
        from runner.cli import _claims_table

        console.print(_claims_table(claims))
    console.print(f"post it with: tycho post {sweep.out}", highlight=False)
    raise typer.Exit(0 if all(c.holds for c in claims) and not failed else 1)


POLL_SECONDS = 3.0
SERVER_FILE = "server.json"


def run_sweep_on_server(sweep, *, server: str, token: str | None) -> None:
    """Queue the sweep's cells on a registry, collect each run into the folder as the
    workers finish it, then reduce as a local sweep does (and exit)."""
    from runner.spec import RunResult, RunStatus
    from runner.sweep import SweepError, cell_name

    try:
        sweep.start()
    except SweepError as exc:
        fail(str(exc))
    client = make_client(server, token)
    state_path = sweep.out / SERVER_FILE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    total = len(sweep.runs())
    started = time.monotonic()
    try:
        if state.get("server") != server.rstrip("/") or "sweep" not in state:
            created = client.start_sweep(sweep.recipe.model_dump(mode="json"), sweep.config,
                                         sweep.spec.model_dump(mode="json"))
            state = {"server": server.rstrip("/"), "sweep": created["id"], "after": 0}
            state_path.write_text(json.dumps(state) + "\n")
            errors.print(f"queued {len(created['cells'])} cells ({total} runs) as sweep "
                         f"{created['id']} on {server}; any `tycho worker` there runs them",
                         highlight=False)
        else:
            errors.print(f"collecting sweep {state['sweep']} from {server}", highlight=False)
        shown_at = 0.0
        while True:
            runs, last = client.sweep_runs(state["sweep"], state["after"])
            for run in runs:
                if sweep.result(run.cell or {}, run.seed) is None:
                    sweep.write(run)
                    done = total - len(sweep.pending())
                    status = "ok" if run.status.value == "ok" else f"[red]{run.status.value}[/red]"
                    errors.print(f"[{done}/{total}] {cell_name(run.cell or {})} seed {run.seed}: "
                                 f"{status} {run.wall_time_s or 0:.1f} s", highlight=False)
            if last is not None:
                state["after"] = last
                state_path.write_text(json.dumps(state) + "\n")
                continue  # the next page, at once
            status = client.sweep_status(state["sweep"])
            for cell in status["cells"]:
                if cell["status"] == "failed":  # the workers gave up on it: say why, once
                    for seed in cell["seeds"]:
                        if sweep.result(cell["cell"], seed) is None:
                            sweep.write(RunResult(
                                status=RunStatus.error, seed=seed, cell=cell["cell"],
                                error="the registry's workers gave up: "
                                      + "; ".join(cell["failures"])[-2000:]))
            if not sweep.pending():
                break
            if time.monotonic() - shown_at > 15:
                shown_at = time.monotonic()
                states = [cell["status"] for cell in status["cells"]]
                errors.print(f"waiting: {total - len(sweep.pending())} of {total} runs back; "
                             f"{states.count('queued')} cells queued, {states.count('running')} "
                             "running", highlight=False)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        fail(f"interrupted: {total - len(sweep.pending())} of {total} runs collected in "
             f"{sweep.out}; the rest keep running on {server}; run the same command to go on "
             "collecting", code=130)
    except TychoError as exc:
        fail_registry(exc, server)
    finish_sweep(sweep, started)


def measures_table(spec, metrics: dict[str, Any]) -> Table:
    """Cells as rows, the measures (mean, and min-max over seeds) as columns."""
    knobs = list(spec.grid)
    table = Table(title="measures (mean over seeds; min-max)")
    for knob in knobs:
        table.add_column(knob, justify="right")
    for name in spec.measures:
        table.add_column(name, justify="right")
    for i, cell in enumerate(spec.cells()):
        row = [f"{cell[k]:g}" for k in knobs]
        for name in spec.measures:
            value = metrics[name].y[i]
            text = "-" if value is None else f"{value:.4g}"
            low, high = metrics.get(f"{name}_min"), metrics.get(f"{name}_max")
            if low is not None and value is not None and low.y[i] != high.y[i]:
                text += f" ({low.y[i]:.3g}-{high.y[i]:.3g})"
            row.append(text)
        table.add_row(*row)
    return table


def post_sweep(directory: Path, *, title: str | None, notes: str, phenomena: list[str],
               tags: list[str], yes: bool, server: str, token: str | None) -> None:
    """`tycho post` of a sweep folder: the measures, claims, and every cell's run."""
    from runner.sweep import SweepError, sweep_observation

    try:
        body, warnings = sweep_observation(directory, title=title, notes=notes,
                                           phenomena=phenomena, tags=tags)
    except (SweepError, ValueError) as exc:
        fail(str(exc))
    from runner.cli import confirm_before_posting

    confirm_before_posting(directory, warnings, yes)
    try:
        created = make_client(server, token).post_observation(body)
    except TychoError as exc:
        fail_registry(exc, server)
    console.print(f"posted {created['id']}: {created['title']}", highlight=False)
    console.print(f"  {created['url']}", highlight=False)
    print(created["id"])


__all__ = ["sweep", "post_sweep", "default_server", "ServerOpt", "TokenOpt"]
