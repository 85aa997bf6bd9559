"""The home page and a phenomenon's page, each rendered from the record its twin answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from server.deps import SessionDep, SettingsDep
from server.phenomena.catalogue import find_phenomenon, overview, phenomenon_detail
from server.web.templating import page_cursor, render_page, route_url

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, settings: SettingsDep):
    """What Tycho is, its phenomena with counts, the latest observations, how to take part."""
    return render_page(request, session, "home.html", record=overview(session=session),
                       twin=route_url(request, "get_overview"),
                       server_url=settings.public_url)


@router.get("/phenomena/{slug}", response_class=HTMLResponse)
def phenomenon_page(request: Request, slug: str, session: SessionDep,
                    cursor: str | None = None):
    """A phenomenon: its description, its observations, and the links among them."""
    phenomenon = find_phenomenon(session=session, slug=slug)
    after = page_cursor(cursor)
    record = phenomenon_detail(session=session, phenomenon=phenomenon, cursor=after)
    return render_page(
        request, session, "phenomenon.html", record=record,
        twin=route_url(request, "get_phenomenon", {"cursor": after} if after is not None else None,
                       slug=slug),
        next_url=f"/phenomena/{slug}?cursor={record.next_cursor}" if record.next_cursor else None,
        first_page=cursor is not None,
    )
