"""Browsing pages: home, a phenomenon, search, a user. Each links to its JSON twin."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from sqlmodel import select

from runner.spec import Verdict
from server.api.phenomena import phenomenon_counts, phenomenon_public
from server.deps import SessionDep, SettingsDep
from server.errors import invalid, not_found
from server.models import Phenomenon, User
from server.observations import list_observations
from server.present import summaries, user_public
from server.web.queries import (
    comments_by,
    links_by,
    links_within_phenomenon,
    reproductions_by,
)
from server.web.templating import render_page

router = APIRouter(include_in_schema=False)

# Rows on one page of a list; the "next" link carries the cursor.
PAGE_SIZE = 50
# Newest observations on the home page.
HOME_LATEST = 12
# Links, reproductions and comments shown on a phenomenon or user page.
RECENT_ITEMS = 50


def _cursor(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise invalid(f"cursor: {value!r} is not a cursor from a previous page")
    return int(value)


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
                                          cursor=_cursor(cursor), limit=PAGE_SIZE)
    return render_page(
        request, session, "phenomenon.html",
        phenomenon=phenomenon_public(phenomenon, counts),
        observations=summaries(session=session, rows=rows),
        links=links_within_phenomenon(session=session, phenomenon_id=phenomenon.id,
                                      limit=RECENT_ITEMS),
        next_url=f"/phenomena/{slug}?cursor={next_cursor}" if next_cursor else None,
        first_page=cursor is not None,
    )


@router.get("/observations")
def browse_page(
    request: Request,
    session: SessionDep,
    phenomenon: str | None = None,
    tag: str | None = None,
    author: str | None = None,
    verdict: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
):
    """Search and filter the registry; newest first, a page at a time."""
    filters = {"phenomenon": phenomenon, "tag": tag, "author": author, "verdict": verdict, "q": q}
    filters = {k: v.strip() for k, v in filters.items() if v and v.strip()}
    rows, next_cursor = list_observations(session=session, cursor=_cursor(cursor),
                                          limit=PAGE_SIZE, **filters)
    query = urlencode(filters)
    # The JSON twin is the same page: same filters, size and cursor.
    twin_query = urlencode({**filters, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})})
    return render_page(
        request, session, "observations.html",
        filters=filters,
        observations=summaries(session=session, rows=rows),
        phenomena=session.exec(select(Phenomenon.slug, Phenomenon.name)
                               .order_by(Phenomenon.name)).all(),
        verdicts=[v.value for v in Verdict],
        json_url=f"/api/v1/observations?{twin_query}",
        next_url="/observations?" + urlencode({**filters, "cursor": next_cursor})
        if next_cursor else None,
        first_url=("/observations?" + query) if cursor else None,
    )


@router.get("/users/{handle}")
def user_page(request: Request, handle: str, session: SessionDep):
    """A user: their observations, their reproductions, their links and their comments."""
    user = session.exec(select(User).where(User.handle == handle)).first()
    if user is None:
        raise not_found("User", f"there is no user {handle!r}")
    rows, next_cursor = list_observations(session=session, author=handle, limit=PAGE_SIZE)
    return render_page(
        request, session, "user.html",
        user=user_public(user),
        observations=summaries(session=session, rows=rows),
        more_url=f"/observations?author={handle}&cursor={next_cursor}" if next_cursor else None,
        reproductions=reproductions_by(session=session, user=user, limit=RECENT_ITEMS),
        links=links_by(session=session, user=user, limit=RECENT_ITEMS),
        comments=comments_by(session=session, user=user, limit=RECENT_ITEMS),
    )
