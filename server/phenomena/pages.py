"""The home page and a phenomenon's page. Each links to its JSON twin."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel import select

from server.community.links import links_within_phenomenon
from server.deps import SessionDep, SettingsDep
from server.errors import not_found
from server.models import Phenomenon
from server.observations.queries import list_observations
from server.observations.records import summaries
from server.phenomena.catalogue import phenomenon_counts, phenomenon_public
from server.web.templating import page_cursor, render_page

router = APIRouter(include_in_schema=False)

# Rows on one page of a list; the "next" link carries the cursor.
PAGE_SIZE = 50
# Newest observations on the home page.
HOME_LATEST = 12
# Links shown on a phenomenon page.
RECENT_ITEMS = 50


@router.get("/")
def home(request: Request, session: SessionDep, settings: SettingsDep):
    """What Tycho is, its phenomena with counts, the latest observations, how to take part."""
    counts = phenomenon_counts(session=session)
    phenomena = [phenomenon_public(p, counts.get(p.id, (0, 0)))
                 for p in session.exec(select(Phenomenon).order_by(Phenomenon.id)).all()]
    rows, _ = list_observations(session=session, limit=HOME_LATEST)
    return render_page(
        request, session, "home.html",
        phenomena=phenomena, latest=summaries(session=session, rows=rows),
        server_url=settings.public_url,
    )


@router.get("/phenomena/{slug}")
def phenomenon_page(request: Request, slug: str, session: SessionDep,
                    cursor: str | None = None):
    """A phenomenon: its description, its observations, and the links among them."""
    phenomenon = session.exec(select(Phenomenon).where(Phenomenon.slug == slug)).first()
    if phenomenon is None:
        raise not_found("Phenomenon", f"there is no phenomenon {slug!r}")
    counts = phenomenon_counts(session=session, phenomenon_id=phenomenon.id).get(
        phenomenon.id, (0, 0))
    rows, next_cursor = list_observations(session=session, phenomenon=slug,
                                          cursor=page_cursor(cursor), limit=PAGE_SIZE)
    return render_page(
        request, session, "phenomenon.html",
        phenomenon=phenomenon_public(phenomenon, counts),
        observations=summaries(session=session, rows=rows),
        links=links_within_phenomenon(session=session, phenomenon_id=phenomenon.id,
                                      limit=RECENT_ITEMS),
        next_url=f"/phenomena/{slug}?cursor={next_cursor}" if next_cursor else None,
        first_page=cursor is not None,
    )
