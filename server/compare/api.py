"""Observations compared side by side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.compare.comparison import compare, parse_ids
from server.compare.schemas import Comparison
from server.deps import JSONRoute, SessionDep, SettingsDep

router = APIRouter(tags=["observations"], route_class=JSONRoute)

IDS = Query(description="2 to 8 observations, comma-separated: T-1,T-9v2 (T-1 is its latest "
            "version); no ids, an empty comparison")


@router.get("/compare", response_model=Comparison)
def get_comparison(session: SessionDep, settings: SettingsDep,
                   ids: Annotated[list[str] | None, IDS] = None) -> Comparison:
    """Observations side by side: configs key by key, claims and verdicts, shared series."""
    if ids is None:
        return Comparison()
    comparison, _ = compare(session=session, refs=parse_ids(ids), public_url=settings.public_url)
    return comparison
