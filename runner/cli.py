"""The runner's commands: run, post, rerun, show, search, cite, link, comment and worker.

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
import os
import re
import sys
from contextlib import ExitStack
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
    fail_registry,
    make_client,
    new_app,
)
from runner.client import Client, TychoError, default_server
from runner.display import SeedsDisplay


# --- running locally ---------------------------------------------------------


def _claims_table(results, title: str = "claims", *, judged: bool = True) -> Table:
    table = Table(title=title, show_lines=False)
    if judged:
        table.add_column("holds")
    table.add_column("claim")
    table.add_column("detail" if judged else "value at this size (not judged)")
    for result in results:
        row = [result.claim, result.detail]
        if judged:
            row.insert(0, "[green]yes[/green]" if result.holds else "[red]no[/red]")
        table.add_row(*row)
    return table


def _cores() -> int:
    return os.cpu_count() or 1


def run(
    target: Annotated[str, typer.Argument(help="A built-in phenomenon (grokking) or my_toy.py[:fn].")],
    set_: Annotated[list[str], typer.Option("--set", help="Config override key=value (repeat).")] = [],
    seed: Annotated[int, typer.Option(help="The seed.")] = 0,
    claim: Annotated[list[str], typer.Option(help="An extra claim to check (repeat).")] = [],
    out: Annotated[Optional[Path], typer.Option(
        help="Output directory (default: tycho-runs/NAME[-quick][-KEY=VALUE...]-seedN).")] = None,
    quick: Annotated[bool, typer.Option(
        help="A smoke run: the built-in's quick config (seconds). Its claims are shown, not "
             "judged (they are stated for the full size); exits 0 when the run worked.")] = False,
    threads: Annotated[int, typer.Option(help="torch threads in the run.")] = 1,
) -> None:
    """Run a recipe locally in the sandbox and check its claims.

    Checks the target, the config and every claim before it starts; shows the
    recipe's output and its progress as it runs. Writes spec.json,
    metrics.json, run.json and plots/ (drawn in the background) to --out: by
    default tycho-runs/NAME-seedN, with every --set in the name, so that runs
    of different configs never share a folder. Exits 0 if every claim holds, 1
    if one fails, 2 if the run could not be made or failed.

    Example: tycho run grokking --set weight_decay=0 --claim "final(test_acc) >= 0.9"
    """
    from runner.local import TargetError, choose_folder, parse_overrides, run_folder, \
        run_target, save_run
    from runner.progress import ProgressTracker

    tracker = ProgressTracker([seed])
    display = SeedsDisplay(tracker, errors)
    with ExitStack() as showing:

        def started(local) -> None:  # every check passed: the sandbox starts
            what = "quick run (a smoke test)" if quick else "run"
            config = f", config {json.dumps(local.spec.config)}" if local.spec.config else ""
            errors.print(f"{what} of {local.name}, seed {seed}{config}", highlight=False)
            tracker.started([seed])
            showing.enter_context(display)

        try:
            overrides = parse_overrides(set_)
            local = run_target(
                target, config=overrides, seed=seed, claims=list(claim), quick=quick,
                threads=threads, on_start=started,
                on_point=lambda point: display.point(seed, point),
                on_progress=lambda done, total: tracker.progress(seed, done, total),
                on_output=display.output)
        except (TargetError, ValueError) as exc:
            fail(str(exc))
    wanted = out or run_folder(local.name, overrides, seed, quick)
    folder, note = choose_folder(wanted, local.spec, chosen=out is not None)
    save_run(local, folder)
    if note:
        errors.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    result = local.result
    if not local.ok:
        head = (result.error or "").splitlines()[0]  # the traceback was shown as it came
        errors.print(f"[red]run failed:[/red] {head}", highlight=False)
        errors.print(f"kept what it logged in {folder}", highlight=False)
        raise typer.Exit(2)
    recipe_s = f" (recipe {result.recipe_time_s:.1f} s)" if result.recipe_time_s else ""
    console.print(f"{len(result.metrics)} series, {result.wall_time_s:.1f} s wall{recipe_s}, "
                  f"{result.peak_memory_mb or 0:.0f} MB peak -> {folder} (plots: {folder}/plots)",
                  highlight=False)
    if local.quick:
        console.print("[bold]quick run[/bold]: a smoke test at a small size. The claims are "
                      "stated for the full size, so they are shown here but not judged; run "
                      "without --quick to check them.")
        if result.claims:
            console.print(_claims_table(result.claims, judged=False))
        raise typer.Exit(0)
    if result.claims:
        console.print(_claims_table(result.claims))
    raise typer.Exit(0 if all(c.holds for c in result.claims) else 1)


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; confirm.")]


def post(
    directory: Annotated[Path, typer.Argument(help="A `tycho run` output directory.")],
    title: Annotated[Optional[str], typer.Option(
        help="Title (an unchanged built-in has its canonical one).")] = None,
    notes: Annotated[Optional[Path], typer.Option(help="A Markdown file of notes.")] = None,
    phenomenon: Annotated[list[str], typer.Option(help="Phenomenon slug (repeat).")] = [],
    tag: Annotated[list[str], typer.Option(help="Tag (repeat).")] = [],
    yes: YesOpt = False,
    server: ServerOpt = default_server(),
    token: TokenOpt = None,
) -> None:
    """Post a `tycho run` output directory as an observation, exactly as run.

    The run goes with its claim results, timings and environment as measured
    here. A run whose config differs from the built-in's defaults (or a quick
    run), or whose claims fail, is posted only once you confirm (--yes), and
    never under the built-in's canonical title. Prints the new id last.

    Example: tycho post tycho-runs/grokking-seed0 --notes notes.md --tag mlp
    """
    from runner.local import TargetError, load_run

    try:
        local = load_run(directory)
    except (FileNotFoundError, ValueError, TargetError) as exc:
        fail(str(exc))
    if not local.ok:
        fail(f"{directory} holds a failed run ({(local.result.error or '').splitlines()[0]}); "
             "fix the recipe and run it again before posting")
    warnings = local.post_warnings()
    if warnings:
        errors.print(f"[yellow]Before you post {directory}:[/yellow]")
        for warning in warnings:
            errors.print(f"  - {warning}", highlight=False)
        if not yes and not _confirm("Post it anyway?"):
            fail("not posted (pass --yes to post it anyway)", code=1)
    try:
        body = local.observation(title=title, phenomena=phenomenon or None, tags=tag,
                                 notes=notes.read_text(encoding="utf-8") if notes else "",
                                 confirm=True)
    except ValueError as exc:
        fail(f"{exc} (--title)")
    try:
        created = make_client(server, token).post_observation(body)
    except TychoError as exc:
        fail_registry(exc, server)
    console.print(f"posted {created['id']}: {created['title']}", highlight=False)
    console.print(f"  {created['url']}", highlight=False)
    print(created["id"])


def _confirm(question: str) -> bool:
    """Ask on a terminal; elsewhere the answer is no (a script passes --yes)."""
    if not sys.stdin.isatty():
        return False
    return typer.confirm(question, default=False)


def rerun(
    ref: Annotated[str, typer.Argument(help="Observation id: T-42 or T-42v2.")],
    seeds: Annotated[int, typer.Option(help="Fresh seeds to run besides the original.")] = 0,
    out: Annotated[Optional[Path], typer.Option(
        help="Where to keep each seed's run (spec, metrics, plots) and the verdict "
             "(default: tycho-runs/T-42v1-rerun).")] = None,
    parallel: Annotated[int, typer.Option(
        help="Sandboxes at once (default: this machine's cores).")] = _cores(),
    post_result: Annotated[bool, typer.Option("--post", help="Post the result as a reproduction "
                                              "linked to the original, with its runs.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Run submitted source without asking.")] = False,
    threads: Annotated[Optional[int], typer.Option(
        help="torch threads in the run (default: as many as the author used).")] = None,
    server: ServerOpt = default_server(),
    token: TokenOpt = None,
) -> None:
    """Re-run someone's observation on this machine and check its claims.

    Runs the original seed and --seeds fresh ones, up to --parallel at once,
    with a progress bar per seed (a plain line every few seconds when the
    output is not a terminal), and keeps every seed's run in --out. Exits 0 if
    every claim holds on the original seed, 1 if one fails.

    Example: tycho rerun T-42 --seeds 4 --post
    """
    from runner.local import choose_folder, write_run_dir
    from runner.progress import ProgressTracker, expected_steps
    from runner.reproduce import reproduce
    from runner.spec import ObservationSpec, verification_seeds

    client = make_client(server, token)
    try:
        record = client.get_observation(ref)
        spec = client.spec(record["ref"])
    except TychoError as exc:
        fail_registry(exc, server)
    console.print(f"[bold]{record['ref']}[/bold] {record['title']} "
                  f"(by {record['author']['handle']}, verdict {record['verdict']})",
                  highlight=False)
    console.print(f"  {record['url']}", highlight=False)
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
    parallel = max(1, parallel)
    tracker = ProgressTracker(all_seeds, expected_steps=expected_steps(spec.metrics),
                              parallel=parallel)
    with SeedsDisplay(tracker, errors, label=record["ref"]) as display:
        result = reproduce(spec, all_seeds, threads=threads, parallel=parallel, tracker=tracker,
                           on_point=display.point)
    original = result.runs[0]
    if original.status.value == "error":
        errors.print(f"[red]the run failed:[/red] {original.error}", highlight=False)
    folder, _ = choose_folder(out or Path("tycho-runs") / f"{record['ref']}-rerun",
                              spec, chosen=out is not None)
    for run_result in result.runs:
        seed_spec = ObservationSpec(recipe=spec.recipe, config=spec.config, seed=run_result.seed,
                                    claims=spec.claims, metrics=run_result.metrics,
                                    environment=run_result.environment)
        write_run_dir(folder / f"seed{run_result.seed}", seed_spec, run_result,
                      title=f"{record['ref']} seed {run_result.seed}", plots="background")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps(
        spec.model_dump(mode="json", exclude={"metrics"}), indent=2) + "\n")
    (folder / "verdict.json").write_text(json.dumps(
        {"observation": record["ref"], "seeds": all_seeds,
         **result.judgement.model_dump(mode="json")}, indent=2) + "\n")
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
        console.print(f"  {rate:.0%} of {seeds} fresh seeds: {claim_text}", highlight=False)
    console.print(f"verdict here: [bold]{result.judgement.verdict.value}[/bold] — "
                  f"{result.judgement.reason}", highlight=False)
    console.print(f"kept every seed's metrics and plots in {folder}/seed<N>/ "
                  f"(verdict: {folder}/verdict.json)", highlight=False)
    holds = bool(original.claims) and all(c.holds for c in original.claims)
    if not spec.claims:
        holds = result.judgement.verdict.value == "reproduced"
    if post_result and original.status.value == "error":
        fail("the run failed, so there is nothing to post; the error is above", code=1)
    if post_result:
        _post_reproduction(client, server, record, spec, result, holds)
    raise typer.Exit(0 if holds else 1)


def _post_reproduction(client: Client, server: str, record: dict, spec, result,
                       holds: bool) -> None:
    """Post a re-run as an observation with its runs (original seed first), and link it."""
    from runner.local import LOG_TAIL_POSTED
    from runner.spec import ObservationCreate, RunStatus

    original = result.runs[0]
    relation = "reproduces" if holds else "fails-to-reproduce"
    # The fresh seeds' runs as they ran; a crashed one is told by its error, not its series.
    posted = [original.model_copy(update={"metrics": {}})] + [
        run.model_copy(update={"metrics": run.metrics if run.status is RunStatus.ok else {}})
        for run in result.runs[1:]]
    posted = [run.model_copy(update={"log_tail": run.log_tail[-LOG_TAIL_POSTED:]})
              for run in posted]
    body = ObservationCreate(
        title=f"Reproduction of {record['ref']}: {record['title']}"[:300],
        phenomena=record["phenomena"], tags=["reproduction"],
        notes=f"Re-ran {record['ref']} with `tycho rerun`: {result.judgement.reason}.",
        recipe=spec.recipe, config=spec.config, seed=spec.seed, metrics=original.metrics,
        claims=spec.claims, environment=original.environment, runs=posted)
    try:
        created = client.post_observation(body)
    except TychoError as exc:
        fail_registry(exc, server)
    try:
        client.link(created["id"], relation, record["ref"],
                    note=f"verdict on this machine: {result.judgement.verdict.value}")
    except TychoError as exc:
        fail(f"posted {created['id']} but could not link it: {exc}. Link it with "
             f"tycho link {created['id']} {relation} {record['ref']}")
    console.print(f"posted {created['id']}, linked {relation} {record['ref']}", highlight=False)
    console.print(f"  {created['url']}", highlight=False)


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
        fail_registry(exc, server)
    if as_json:
        print(json.dumps(record, indent=2))
        return
    console.print(f"[bold]{record['ref']}[/bold]  {record['title']}", highlight=False)
    console.print(f"  {record['url']}", highlight=False)
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
    client = make_client(server, None)
    try:
        page = client.list_observations(
            q=query or None, phenomenon=phenomenon, verdict=verdict, tag=tag, author=author,
            limit=limit)
        known = [p["slug"] for p in client.phenomena()] if phenomenon else []
    except TychoError as exc:
        fail_registry(exc, server)
    if phenomenon and phenomenon not in known:
        from runner.local import did_you_mean

        fail(f"no phenomenon {phenomenon!r} in this registry{did_you_mean(phenomenon, known)} "
             f"Known: {', '.join(known)}")
    table = Table()
    for column in ("id", "verdict", "phenomena", "author", "title", "web"):
        table.add_column(column, overflow="fold")
    for item in page["items"]:
        table.add_row(item["ref"], item["verdict"], ", ".join(item["phenomena"]),
                      item["author"]["handle"], item["title"], item["url"])
    console.print(table)
    if not page["items"]:
        console.print("nothing matches")


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
        fail_registry(exc, server)


# --- taking part ------------------------------------------------------------------


RELATIONS = ("reproduces", "fails-to-reproduce", "extends", "varies", "connects", "unifies",
             "explains", "applies", "contradicts", "supersedes")


def link(
    source: Annotated[str, typer.Argument(help="Your observation: T-9 or T-9v2.")],
    relation: Annotated[str, typer.Argument(help=f"One of: {', '.join(RELATIONS)}.")],
    targets: Annotated[list[str], typer.Argument(
        help="What it relates to: observations (T-1), a phenomenon (grokking), or a work "
             "outside Tycho (arXiv:2201.02177, a DOI, a URL).")],
    note: Annotated[str, typer.Option(help="One line on why.")] = "",
    server: ServerOpt = default_server(),
    token: TokenOpt = None,
) -> None:
    """Link your observation to others: reproduces, extends, explains, unifies, ...

    Example: tycho link T-9 reproduces T-1 --note "same curve, on a laptop"
    """
    from runner.local import did_you_mean

    if relation not in RELATIONS:
        fail(f"{relation!r} is not a relation{did_you_mean(relation, RELATIONS)} "
             f"Relations: {', '.join(RELATIONS)}")
    observations = [t for t in targets if re.fullmatch(r"(?i)T?-?\d+(v\d+)?", t)]
    others = [t for t in targets if t not in observations]
    client = make_client(server, token)
    try:
        if observations:
            client.link(source, relation, targets=observations, note=note)
        for other in others:
            is_work = ":" in other or "/" in other or "." in other
            client.link(source, relation, note=note,
                        **({"external": other} if is_work else {"phenomenon": other}))
        record = client.get_observation(source)
    except TychoError as exc:
        fail_registry(exc, server)
    console.print(f"linked {record['ref']} {relation} {', '.join(targets)}", highlight=False)
    console.print(f"  {record['url']}#links", highlight=False)


def comment(
    ref: Annotated[str, typer.Argument(help="Observation id: T-42 or T-42v2.")],
    body: Annotated[str, typer.Argument(help="Markdown (math in $...$).")],
    reply_to: Annotated[Optional[int], typer.Option(help="The comment this one answers.")] = None,
    series: Annotated[Optional[str], typer.Option(help="Anchor it on this series...")] = None,
    x: Annotated[Optional[float], typer.Option(help="...at this step (or other x).")] = None,
    server: ServerOpt = default_server(),
    token: TokenOpt = None,
) -> None:
    """Comment on an observation (or reply to a comment), optionally at a point of a curve.

    Example: tycho comment T-1 "Test accuracy jumps at step 4100" --series test_acc --x 4100
    """
    client = make_client(server, token)
    try:
        made = client.comment(ref, body, parent=reply_to, series=series, x=x)
        record = client.get_observation(ref)
    except TychoError as exc:
        fail_registry(exc, server)
    console.print(f"commented on {record['ref']} (comment {made['id']})", highlight=False)
    console.print(f"  {record['url']}#comment-{made['id']}", highlight=False)


# --- verifying for a registry --------------------------------------------------------


def worker(
    server: ServerOpt = default_server(),
    token_file: Annotated[Optional[Path], typer.Option(
        help="A file holding the worker token (else TYCHO_TOKEN). There is no --token: a "
             "token in the command line is visible to every process on the machine.")] = None,
    once: Annotated[bool, typer.Option(help="Do at most one job, then exit.")] = False,
    concurrency: Annotated[int, typer.Option(help="Jobs at once.")] = 1,
    parallel: Annotated[int, typer.Option(
        help="Sandboxes each job runs at once: its seeds in parallel (default: this "
             "machine's cores).")] = _cores(),
    threads: Annotated[Optional[int], typer.Option(
        help="torch threads per run (default: as many as each author used).")] = None,
    worker_id: Annotated[Optional[str], typer.Option(help="Name in the registry's records.")] = None,
) -> None:
    """Verify observations: claim jobs from a registry, re-run them, report verdicts.

    Needs a worker token (tycho user token HANDLE --scope worker), read from the
    environment variable TYCHO_TOKEN or from --token-file, never from the
    command line. At most --concurrency jobs at once, each in up to --parallel
    sandboxes (docs/deployment.md says how to choose them). SIGTERM hands the
    current job back.

    Example: TYCHO_TOKEN=tyc_... tycho worker --server https://tycho.example.org
    """
    from runner.worker import run_workers

    token = os.environ.get("TYCHO_TOKEN") or None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"cannot read the token file: {exc}")
    if not token:
        fail("a worker token is needed: set TYCHO_TOKEN or pass --token-file FILE")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not every heartbeat request
    try:
        done = run_workers(lambda: Client(server=server, token=token), concurrency=concurrency,
                           once=once, threads=threads, worker_id=worker_id,
                           parallel=max(1, parallel))
    except TychoError as exc:
        if exc.status == 0:
            fail_registry(exc, server, code=1)
        fail(f"{exc} — is this a worker token for {server}?", code=1)
    logging.getLogger("tycho.worker").info("stopped after %d job(s)", done)


def register(app: typer.Typer) -> None:
    """Add the runner's commands to `app`."""
    for command in (run, post, rerun, show, search, cite, link, comment, worker):
        app.command()(command)


# The runner's commands alone (`python -m runner.cli`); `tycho` is tycho.cli's app.
app = new_app()
register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
