"""A run's page, `/T-42v2/runs/7`: a seed or a sweep's cell, plotted on its own."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from server.deps import SessionDep
from server.observations.queries import format_ref
from server.runs.records import run_record
from server.web.plots import build_panels, panels_json, run_styles
from server.web.templating import render_page, route_url

router = APIRouter(include_in_schema=False)


@router.get("/T-{number:int}v{version:int}/runs/{run_id:int}", response_class=HTMLResponse)
def run_page(request: Request, number: int, version: int, run_id: int, session: SessionDep):
    """One run of a version: what it ran, how long it took, its claims and its series."""
    ref = format_ref(number, version)
    record = run_record(session=session, ref=ref, run_id=run_id)
    styles = run_styles(runs=[record], original_seed=record.seed)
    panels = build_panels(session=session, styles=styles)
    return render_page(request, session, "run.html", record=record,
                       twin=route_url(request, "get_run", ref=ref, run_id=run_id),
                       panels=panels, plots_json=panels_json(panels))
