"""How the observation page draws its record (GET /api/v1/observations/{ref}): plots, the
claims against each run, links grouped by relation, highlighted source."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlmodel import Session

from runner.spec import ClaimResult
from server.community.comments import MAX_REPLY_DEPTH, ThreadRow, thread_rows
from server.community.links import group_by_relation
from server.community.schemas import LinkPublic
from server.models import Observation, ObservationVersion, Recipe
from server.observations.stored import record_json
from server.observations.schemas import ObservationPublic, RunSummary
from server.web.plots import Panel, RunStyle, build_panels, load_run_series, run_styles
from server.web.sweep_plots import CellRuns, cell_key, sweep_panels


@dataclass
class ClaimRow:
    """One claim: its pass rate over fresh seeds and its result on each run."""

    claim: str
    pass_rate: float | None
    results: list[ClaimResult | None]


@dataclass
class ObservationView:
    record: ObservationPublic
    ref: str  # T-42v2
    latest_ref: str | None  # T-42v3 when a newer version exists
    withdrawn_reason: str | None
    recipe_source: Any  # highlighted source (Markup), or None for a built-in
    config_json: str
    claim_runs: list[RunSummary]
    claim_rows: list[ClaimRow]
    styles: list[RunStyle]
    panels: list[Panel]
    links_out: dict[str, list[LinkPublic]]
    links_in: dict[str, list[LinkPublic]]
    thread: list[ThreadRow]  # record.comments in reading order, drawn with a loop
    environment: dict[str, Any] = field(default_factory=dict)
    knobs: list[str] = field(default_factory=list)  # a sweep's knobs, in the grid's order
    cell_runs: list[RunSummary] = field(default_factory=list)  # a sweep's runs of its cells
    max_reply_depth: int = MAX_REPLY_DEPTH


def observation_view(
    *, session: Session, observation: Observation, version: ObservationVersion,
    public_url: str = "",
) -> ObservationView:
    """The observation record (as GET /api/v1/observations/{ref}), plots, claims and thread."""
    record = ObservationPublic.model_validate_json(record_json(
        session=session, observation=observation, version=version, public_url=public_url))
    # The source is the spec's (GET .../spec), not the record's: the page shows it coloured.
    recipe = session.get(Recipe, version.recipe_id)
    # A sweep's runs of its cells are linked from its plots, not drawn in them.
    styles = run_styles(runs=[r for r in record.runs if r.cell is None],
                        original_seed=record.seed)
    claim_runs = [r for r in record.runs if r.claims and r.cell is None]
    cell_runs = [r for r in record.runs if r.cell is not None]
    return ObservationView(
        record=record,
        ref=record.ref,
        latest_ref=record.newer_version,
        withdrawn_reason=record.withdrawn_reason,
        # Highlighted when the recipe was stored (Recipe.source_html), never on a view.
        recipe_source=Markup(recipe.source_html) if recipe.source else None,
        config_json=json.dumps(record.config, indent=2, sort_keys=True),
        claim_runs=claim_runs,
        claim_rows=claim_rows(record=record, runs=claim_runs),
        styles=styles,
        panels=_panels(session=session, record=record, styles=styles, cell_runs=cell_runs),
        links_out=group_by_relation(record.links.outgoing),
        links_in=group_by_relation(record.links.incoming),
        thread=thread_rows(record.comments),
        environment={k: v for k, v in (record.environment or {}).items() if v is not None},
        knobs=list(record.sweep.grid) if record.sweep else [],
        cell_runs=cell_runs,
    )


def _panels(*, session: Session, record: ObservationPublic, styles: list[RunStyle],
            cell_runs: list[RunSummary]) -> list[Panel]:
    """A sweep's measures against its knobs, or every run's series (groups overlaid)."""
    if record.sweep is None or not styles:
        return build_panels(session=session, styles=styles, groups=record.groups)
    knobs = list(record.sweep.grid)
    cells: CellRuns = {}
    # The sweep's own run of a cell first (its lowest seed), a worker's re-run after.
    for run in sorted(cell_runs, key=lambda r: (r.kind != "cell", r.seed, r.id)):
        if all(knob in run.cell for knob in knobs):
            seed = f"{run.seed}" if run.kind == "cell" else f"{run.seed} ({run.kind})"
            cells.setdefault(cell_key(run.cell[k] for k in knobs), []).append(
                (seed, f"/{record.ref}/runs/{run.id}"))
    author = load_run_series(session=session, run_ids=[styles[0].run_id])[styles[0].run_id]
    return sweep_panels(series=author, cells=cells, seeds=len(record.sweep.seeds))


def claim_rows(*, record: ObservationPublic, runs: list[RunSummary]) -> list[ClaimRow]:
    """One row per claim with a cell per run (None where that run did not evaluate it)."""
    by_run = [{c.claim: c for c in run.claims} for run in runs]
    return [
        ClaimRow(
            claim=claim,
            pass_rate=record.pass_rates.get(claim),
            results=[results.get(claim) for results in by_run],
        )
        for claim in record.claims
    ]
