"""The runner's commands: run, post, rerun, show, search, cite and worker.

Each command is a thin wrapper over a library call. Commands that talk to a
registry take --server and --token, defaulting to TYCHO_SERVER (else
http://127.0.0.1:8000) and TYCHO_TOKEN. The registry operator's commands (serve,
db, user) are server.cli's; tycho.cli puts both on the one `tycho` command.
`python -m runner.cli` runs these alone, with no server code: it is how
`tycho serve` starts its local worker.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from runner.cli_common import (
    ServerOpt,
    TokenOpt,
    console,
    errors,
    fail,
    make_client,
    new_app,
)
from runner.client import Client, TychoError, default_server


# --- running locally ---------------------------------------------------------


class _Progress:
    """A live line with the latest metrics while a run goes on."""

    def __init__(self, label: str) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), console=errors, transient=True)
        self.task = self.progress.add_task(label)
        self.label = label
        self.latest: dict[str, float | None] = {}
        self.last_draw = 0.0

    def __enter__(self) -> "_Progress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def point(self, point: dict) -> None:
        self.latest.update(point.get("values", {}))
        now = time.monotonic()
        if now - self.last_draw < 0.2:
            return
        self.last_draw = now
        shown = ", ".join(f"{k}={v:.4g}" if v is not None else f"{k}=nan"
                          for k, v in list(self.latest.items())[:5])
        self.progress.update(self.task, description=(
            f"{self.label}  {point.get('axis', 'step')} {point.get('x', 0):g}  {shown}"))


def _claims_table(results, title: str = "claims") -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("holds")
    table.add_column("claim")
    table.add_column("detail")
    for result in results:
        table.add_row("[green]yes[/green]" if result.holds else "[red]no[/red]",
                      result.claim, result.detail)
    return table


def run(
    target: Annotated[str, typer.Argument(help="A built-in phenomenon (grokking) or my_toy.py[:fn].")],
    set_: Annotated[list[str], typer.Option("--set", help="Config override key=value (repeat).")] = [],
    seed: Annotated[int, typer.Option(help="The seed.")] = 0,
    claim: Annotated[list[str], typer.Option(help="An extra claim to check (repeat).")] = [],
    out: Annotated[Optional[Path], typer.Option(help="Output directory.")] = None,
    quick: Annotated[bool, typer.Option(help="Use the built-in's quick config (seconds).")] = False,
    threads: Annotated[int, typer.Option(help="torch threads in the run.")] = 1,
) -> None:
    """Run a recipe locally in the sandbox and check its claims.

    Writes spec.json, metrics.json, run.json and plots/ to --out (default
    tycho-runs/NAME-seedN). Exits 0 if every claim holds, 1 if one fails.

    Example: tycho run grokking --set weight_decay=0 --claim "final(test_acc) >= 0.9"
    """
    import phenomena
    from runner.local import (
        TargetError,
        default_claims,
        parse_overrides,
        resolve_target,
        run_locally,
        write_run_dir,
    )
    from runner.spec import ObservationSpec

    try:
        recipe = resolve_target(target)
        config = parse_overrides(set_)
        if quick and not hasattr(recipe, "builtin"):
            raise ValueError("--quick applies to built-in phenomena only")
        if quick:
            config = {**phenomena.get(recipe.builtin).quick, **config}
        claims = default_claims(recipe) + list(claim)
    except (TargetError, ValueError, KeyError, ImportError) as exc:
        fail(str(exc))
    name = getattr(recipe, "builtin", None) or Path(target.partition(":")[0]).stem
    out = out or Path("tycho-runs") / f"{name}-seed{seed}"
    try:
        with _Progress(f"running {name} (seed {seed})") as progress:
            result = run_locally(recipe, config, seed, claims, threads=threads,
                                 on_point=progress.point)
    except (ValueError, KeyError) as exc:
        fail(str(exc))
    spec = ObservationSpec(recipe=recipe, config=config, seed=seed, claims=claims,
                           environment=result.environment)
    write_run_dir(out, spec, result, title=name)
    if result.status.value == "error":
        errors.print(f"[red]run failed:[/red] {result.error}")
        if result.log_tail:
            errors.print(result.log_tail[-2000:])
        raise typer.Exit(2)
    console.print(f"{len(result.metrics)} series, {result.wall_time_s:.1f} s wall, "
                  f"{result.peak_memory_mb or 0:.0f} MB peak -> {out}")
    if result.claims:
        console.print(_claims_table(result.claims))
    raise typer.Exit(0 if all(c.holds for c in result.claims) else 1)


def post(
    directory: Annotated[Path, typer.Argument(help="A `tycho run` output directory.")],
    title: Annotated[Optional[str], typer.Option(help="Title (built-ins have a default).")] = None,
    notes: Annotated[Optional[Path], typer.Option(help="A Markdown file of notes.")] = None,
    phenomenon: Annotated[list[str], typer.Option(help="Phenomenon slug (repeat).")] = [],
    tag: Annotated[list[str], typer.Option(help="Tag (repeat).")] = [],
    server: ServerOpt = default_server(),
    token: TokenOpt = None,
) -> None:
    """Post a `tycho run` output directory as an observation, exactly as run.

    Example: tycho post tycho-runs/grokking-seed0 --notes notes.md --tag mlp
    """
    import phenomena
    from runner.local import read_run_dir
    from runner.spec import ObservationCreate

    try:
        spec = read_run_dir(directory)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    run_record = directory / "run.json"
    if run_record.is_file() and json.loads(run_record.read_text()).get("status") == "error":
        fail(f"{directory} holds a failed run ({json.loads(run_record.read_text())['error']}); "
              "fix the recipe and run it again before posting")
    builtin = getattr(spec.recipe, "builtin", None)
    if title is None:
        if builtin is None:
            fail("--title is needed for a recipe of your own")
        title = phenomena.get(builtin).title
    if not phenomenon and builtin:
        phenomenon = [builtin]
    body = ObservationCreate(**spec.model_dump(), title=title, phenomena=phenomenon, tags=tag,
                             notes=notes.read_text(encoding="utf-8") if notes else "")
    try:
        created = make_client(server, token).post_observation(body)
    except TychoError as exc:
        fail(str(exc))
    console.print(f"posted {created['id']}: {created['title']}")
    console.print(f"  {server.rstrip('/')}/{created['id']}")
    print(created["id"])


def rerun(
    ref: Annotated[str, typer.Argument(help="Observation id: T-42 or T-42v2.")],
    seeds: Annotated[int, typer.Option(help="Fresh seeds to run besides the original.")] = 0,
    post_result: Annotated[bool, typer.Option("--post", help="Post the result as a reproduction "
                                              "linked to the original.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Run submitted source without asking.")] = False,
    threads: Annotated[Optional[int], typer.Option(
        help="torch threads in the run (default: as many as the author used).")] = None,
    server: ServerOpt = default_server(),
    token: TokenOpt = None,
) -> None:
    """Re-run someone's observation on this machine and check its claims.

    Exits 0 if every claim holds on the original seed, 1 if one fails.

    Example: tycho rerun T-42 --seeds 4 --post
    """
    from runner.reproduce import reproduce
    from runner.spec import verification_seeds

    client = make_client(server, token)
    try:
        record = client.get_observation(ref)
        spec = client.spec(record["ref"])
    except TychoError as exc:
        fail(str(exc))
    console.print(f"[bold]{record['ref']}[/bold] {record['title']} "
                  f"(by {record['author']['handle']}, verdict {record['verdict']})")
    if hasattr(spec.recipe, "builtin"):
        console.print(f"recipe: built-in [bold]{spec.recipe.builtin}[/bold]")
    else:
        lines = spec.recipe.source.splitlines()
        console.print(f"recipe: submitted source, sha256 {spec.recipe.sha256}, "
                      f"entrypoint {spec.recipe.entrypoint}, {len(lines)} lines:")
        for line in lines[:15]:
            console.print(f"  {line}", markup=False, highlight=False)
        if not yes and not typer.confirm("Run this code in the sandbox on this machine?"):
            raise typer.Exit(1)
    all_seeds = verification_seeds(spec.seed, seeds)
    with _Progress(f"re-running {record['ref']}") as progress:
        result = reproduce(spec, all_seeds, threads=threads,
                           on_point=lambda seed, point: progress.point(point))
    original = result.runs[0]
    if original.status.value == "error":
        errors.print(f"[red]the run failed:[/red] {original.error}")
    table = Table(title="series (original seed vs posted)")
    for column in ("series", "exact", "max abs diff", "max rel diff", "note"):
        table.add_column(column)
    for c in result.judgement.comparisons:
        table.add_row(c.name, "yes" if c.exact else "no",
                      "" if c.max_abs_diff is None else f"{c.max_abs_diff:.3g}",
                      "" if c.max_rel_diff is None else f"{c.max_rel_diff:.3g}", c.problem or "")
    console.print(table)
    console.print(_claims_table(original.claims, f"claims on seed {spec.seed}"))
    for claim_text, rate in result.judgement.pass_rates.items():
        console.print(f"  {rate:.0%} of {seeds} fresh seeds: {claim_text}")
    console.print(f"verdict here: [bold]{result.judgement.verdict.value}[/bold] — "
                  f"{result.judgement.reason}")
    holds = bool(original.claims) and all(c.holds for c in original.claims)
    if not spec.claims:
        holds = result.judgement.verdict.value == "reproduced"
    if post_result and original.status.value == "error":
        fail("the run failed, so there is nothing to post; the error is above", code=1)
    if post_result:
        from runner.spec import ObservationCreate

        relation = "reproduces" if holds else "fails-to-reproduce"
        body = ObservationCreate(
            title=f"Reproduction of {record['ref']}: {record['title']}"[:300],
            phenomena=record["phenomena"], tags=["reproduction"],
            notes=f"Re-ran {record['ref']} with `tycho rerun`: {result.judgement.reason}.",
            recipe=spec.recipe, config=spec.config, seed=spec.seed, metrics=original.metrics,
            claims=spec.claims, environment=original.environment)
        try:
            created = client.post_observation(body)
        except TychoError as exc:
            fail(str(exc))
        try:
            client.link(created["id"], relation, record["ref"],
                        note=f"verdict on this machine: {result.judgement.verdict.value}")
        except TychoError as exc:
            fail(f"posted {created['id']} but could not link it: {exc}. Link it with "
                  f"POST /api/v1/observations/{created['id']}/links "
                  f'{{"relation": "{relation}", "target": "{record["ref"]}"}}')
        console.print(f"posted {created['id']}, linked {relation} {record['ref']}")
    raise typer.Exit(0 if holds else 1)


# --- reading the registry ----------------------------------------------------------


def show(
    ref: Annotated[str, typer.Argument(help="Observation id: T-42 or T-42v2.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the API record.")] = False,
    server: ServerOpt = default_server(),
) -> None:
    """Show one observation: verdict, claims, series, links.

    Example: tycho show T-42
    """
    try:
        record = make_client(server, None).get_observation(ref)
    except TychoError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(record, indent=2))
        return
    console.print(f"[bold]{record['ref']}[/bold]  {record['title']}")
    console.print(f"by {record['author']['handle']}  ·  {record['created_at'][:10]}  ·  "
                  f"phenomena: {', '.join(record['phenomena']) or '-'}  ·  "
                  f"verdict: [bold]{record['verdict']}[/bold]")
    if record.get("verdict_reason"):
        console.print(f"  {record['verdict_reason']}")
    recipe = record["recipe"]
    console.print(f"recipe: {recipe['builtin'] or 'source ' + recipe['sha256'][:12]}  "
                  f"seed {record['seed']}  config {json.dumps(record['config'])}")
    for text in record["claims"]:
        rate = record["pass_rates"].get(text)
        console.print(f"  claim: {text}" + (f"   ({rate:.0%} of fresh seeds)" if rate is not None else ""))
    console.print("series: " + ", ".join(f"{m['name']} ({m['n_points']} pts vs {m['axis']})"
                                         for m in record["metrics"]))
    for direction in ("outgoing", "incoming"):
        for link in record.get("links", {}).get(direction, []):
            target = link["target"].get("id") or link["target"].get("slug") or link["target"].get("ref")
            console.print(f"  {link['source']['id']} {link['relation']} {target}  ({link['author']})")
    console.print(f"re-run it: {record['rerun']}")


def search(
    query: Annotated[str, typer.Argument(help="Text in titles and notes ('' for all).")] = "",
    phenomenon: Annotated[Optional[str], typer.Option(help="Phenomenon slug.")] = None,
    verdict: Annotated[Optional[str], typer.Option(help="e.g. robust, fragile.")] = None,
    tag: Annotated[Optional[str], typer.Option(help="Tag.")] = None,
    author: Annotated[Optional[str], typer.Option(help="Author handle.")] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 20,
    server: ServerOpt = default_server(),
) -> None:
    """Search the registry.

    Example: tycho search "weight decay" --phenomenon grokking --verdict robust
    """
    try:
        page = make_client(server, None).list_observations(
            q=query or None, phenomenon=phenomenon, verdict=verdict, tag=tag, author=author,
            limit=limit)
    except TychoError as exc:
        fail(str(exc))
    table = Table()
    for column in ("id", "verdict", "phenomena", "author", "title"):
        table.add_column(column)
    for item in page["items"]:
        table.add_row(item["ref"], item["verdict"], ", ".join(item["phenomena"]),
                      item["author"]["handle"], item["title"])
    console.print(table)


def cite(
    ref: Annotated[str, typer.Argument(help="Observation id: T-42 or T-42v2.")],
    format: Annotated[str, typer.Option(help="bibtex, csl-json or cff.")] = "bibtex",
    chain: Annotated[bool, typer.Option(help="Cite it with everything it links to.")] = False,
    depth: Annotated[int, typer.Option(help="Link depth for --chain.")] = 2,
    server: ServerOpt = default_server(),
) -> None:
    """Print a citation of an observation version (or of its chain of links).

    Example: tycho cite T-42 --format bibtex --chain
    """
    try:
        print(make_client(server, None).cite(ref, format=format, chain=chain, depth=depth))
    except TychoError as exc:
        fail(str(exc))


# --- verifying for a registry --------------------------------------------------------


def worker(
    server: ServerOpt = default_server(),
    token: Annotated[Optional[str], typer.Option(
        "--token", envvar="TYCHO_TOKEN", help="A worker-scoped token.")] = None,
    once: Annotated[bool, typer.Option(help="Do at most one job, then exit.")] = False,
    concurrency: Annotated[int, typer.Option(help="Jobs at once (each runs its seeds in turn).")] = 1,
    threads: Annotated[Optional[int], typer.Option(
        help="torch threads per run (default: as many as each author used).")] = None,
    worker_id: Annotated[Optional[str], typer.Option(help="Name in the registry's records.")] = None,
) -> None:
    """Verify observations: claim jobs from a registry, re-run them, report verdicts.

    Needs a worker token (tycho user token HANDLE --scope worker). SIGTERM
    hands the current job back.

    Example: TYCHO_TOKEN=tyc_... tycho worker --server https://tycho.example.org
    """
    from runner.worker import run_workers

    if not token:
        fail("a worker token is needed (--token or TYCHO_TOKEN)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not every heartbeat request
    try:
        done = run_workers(lambda: Client(server=server, token=token), concurrency=concurrency,
                           once=once, threads=threads, worker_id=worker_id)
    except TychoError as exc:
        fail(f"{exc} — is this a worker token for {server}?", code=1)
    logging.getLogger("tycho.worker").info("stopped after %d job(s)", done)


def register(app: typer.Typer) -> None:
    """Add the runner's commands to `app`."""
    for command in (run, post, rerun, show, search, cite, worker):
        app.command()(command)


# The runner's commands alone (`python -m runner.cli`); `tycho` is tycho.cli's app.
app = new_app()
register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
