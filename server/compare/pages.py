"""`/compare?ids=T-1,T-9`: observations side by side, their shared series overlaid."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from server.compare.comparison import (
    MAX_COMPARED,
    MIN_COMPARED,
    compare,
    comparison_panels,
    parse_ids,
)
from server.compare.schemas import Comparison
from server.deps import SessionDep, SettingsDep
from server.web.plots import SERIES_COLOURS, panels_json
from server.web.templating import render_page, route_url

router = APIRouter(include_in_schema=False)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, session: SessionDep, settings: SettingsDep,
                 ids: Annotated[list[str] | None, Query()] = None):
    """The comparison of `ids`; without them, a form that asks which to compare."""
    if ids is None:
        record, panels = Comparison(), []
        twin = route_url(request, "get_comparison")
    else:
        record, author_runs = compare(session=session, refs=parse_ids(ids),
                                      public_url=settings.public_url)
        panels = comparison_panels(session=session, comparison=record, author_runs=author_runs)
        twin = route_url(request, "get_comparison", {"ids": ",".join(record.ids)})
    return render_page(request, session, "compare.html", record=record, twin=twin,
                       panels=panels, plots_json=panels_json(panels),
                       colours=SERIES_COLOURS, min_compared=MIN_COMPARED,
                       max_compared=MAX_COMPARED)
