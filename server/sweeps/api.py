"""`/sweeps`: a sweep's cells run by the registry's workers (`tycho sweep --server`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from runner.spec import MAX_ID, Id

from server.deps import CurrentUser, JSONRoute, SessionDep, SettingsDep
from server.sweeps.schemas import SweepRunCreate, SweepRunPublic, SweepRunResults
from server.sweeps.service import (
    create_sweep_run,
    get_sweep_run,
    sweep_run_public,
    sweep_run_results,
)

router = APIRouter(tags=["sweeps"], route_class=JSONRoute)

SweepId = Annotated[Id, Path(description="the sweep run's number, from POST /sweeps")]


@router.post("/sweeps", status_code=201, response_model=SweepRunPublic)
def post_sweep_run(body: SweepRunCreate, session: SessionDep, settings: SettingsDep,
                   user: CurrentUser) -> SweepRunPublic:
    """Queue every cell of a sweep (all its seeds) for the workers; collect the runs with
    GET /sweeps/{id}/runs. Post the finished sweep as an observation as usual."""
    row = create_sweep_run(session=session, owner=user, body=body, settings=settings)
    session.commit()
    return sweep_run_public(session=session, row=row)


@router.get("/sweeps/{sweep_id}", response_model=SweepRunPublic)
def get_sweep(sweep_id: SweepId, session: SessionDep, user: CurrentUser) -> SweepRunPublic:
    """Where each cell's job is, and how many runs are done (the sweep's owner only)."""
    return sweep_run_public(session=session,
                            row=get_sweep_run(session=session, sweep_id=sweep_id, owner=user))


@router.get("/sweeps/{sweep_id}/runs", response_model=SweepRunResults)
def get_sweep_runs(sweep_id: SweepId, session: SessionDep, user: CurrentUser,
                   after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> SweepRunResults:
    """Finished runs with their series, oldest first, a page at a time (`after`: the
    previous page's `last`)."""
    row = get_sweep_run(session=session, sweep_id=sweep_id, owner=user)
    runs, last = sweep_run_results(session=session, row=row, after=after)
    return SweepRunResults(runs=runs, last=last)
