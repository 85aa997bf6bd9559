"""A run of an observation version, on its own."""

from __future__ import annotations

from fastapi import APIRouter

from server.deps import JSONRoute, SessionDep
from server.runs.records import run_record
from server.runs.schemas import RunPublic

router = APIRouter(tags=["observations"], route_class=JSONRoute)


@router.get("/observations/{ref}/runs/{run_id}", response_model=RunPublic)
def get_run(ref: str, run_id: int, session: SessionDep) -> RunPublic:
    """One run of a version (`T-42v2`): its seed, a sweep's cell, timings, claims, series."""
    return run_record(session=session, ref=ref, run_id=run_id)
