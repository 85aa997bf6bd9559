"""The verification panel of an observation page, alone: the page fetches it every few
seconds while a verification is queued or running, and shows it in place."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from server.deps import SessionDep
from server.observations.queries import find_version, format_ref
from server.verification.status import verification_status
from server.web.templating import render_page, route_url

router = APIRouter(include_in_schema=False)


@router.get("/T-{number:int}v{version:int}/verification", response_class=HTMLResponse)
def verification_panel(request: Request, number: int, version: int, session: SessionDep):
    """Where the version's verification is, as the observation page shows it."""
    ref = format_ref(number, version)
    _, row = find_version(session=session, ref=ref)
    return render_page(request, session, "verification_panel.html",
                       record=verification_status(session=session, version=row),
                       twin=route_url(request, "get_verification", ref=ref),
                       number=number, version=version)
