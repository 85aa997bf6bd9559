"""Browsing and searching observations, the observation page (`/T-42`, `/T-42v2`) and
its comment form."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import select

from runner.spec import Verdict
from server.community.comments import create_comment
from server.community.schemas import CommentCreate
from server.deps import SessionDep, SettingsDep
from server.errors import invalid, validated
from server.models import Phenomenon
from server.observations.queries import find_version, format_ref
from server.observations.records import observation_page
from server.observations.view import observation_view
from server.users.signin import check_csrf, require_signed_in
from server.web.plots import panels_json
from server.web.templating import page_cursor, render_page, route_url

router = APIRouter(include_in_schema=False)

# Rows on one page of a list; the "next" link carries the cursor.
PAGE_SIZE = 50


@router.get("/observations", response_class=HTMLResponse)
def browse_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
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
    record = observation_page(session=session, cursor=page_cursor(cursor), limit=PAGE_SIZE,
                              public_url=settings.public_url, **filters)
    # The JSON twin is the same page: same filters, size and cursor.
    twin_query = {**filters, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
    return render_page(
        request, session, "observations.html", record=record,
        twin=route_url(request, "get_observations", twin_query),
        filters=filters,
        phenomena=session.exec(select(Phenomenon.slug, Phenomenon.name)
                               .order_by(Phenomenon.name)).all(),
        verdicts=[v.value for v in Verdict],
        next_url="/observations?" + urlencode({**filters, "cursor": record.next_cursor})
        if record.next_cursor else None,
        first_url=("/observations?" + urlencode(filters)) if cursor else None,
    )


def _render(request: Request, session, ref: str):
    observation, version = find_version(session=session, ref=ref)
    view = observation_view(session=session, observation=observation, version=version,
                            public_url=request.app.state.settings.public_url)
    return render_page(request, session, "observation.html", record=view.record,
                       twin=route_url(request, "get_observation", ref=view.ref),
                       view=view, plots_json=panels_json(view.panels))


@router.get("/T-{number:int}", response_class=HTMLResponse)
def latest_observation_page(request: Request, number: int, session: SessionDep):
    """The latest version of an observation."""
    return _render(request, session, format_ref(number))


@router.get("/T-{number:int}v{version:int}", response_class=HTMLResponse)
def observation_version_page(request: Request, number: int, version: int, session: SessionDep):
    """One version of an observation, as published."""
    return _render(request, session, format_ref(number, version))


@router.post("/T-{number:int}v{version:int}/comments")
def post_comment_form(
    request: Request,
    number: int,
    version: int,
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[str, Form()] = "",
    parent: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
):
    """The page's comment form: comment (or reply) as the signed-in user, then back to it."""
    user = require_signed_in(session=session, request=request, doing="comment")
    check_csrf(request, csrf)
    if not body.strip():
        raise invalid("the comment is empty; write something before posting")
    if parent and not (parent.isdigit() and len(parent) <= 19):
        raise invalid(f"parent: {parent[:40]!r} is not a comment number")
    content = validated(CommentCreate, body=body, parent=int(parent) if parent else None)
    observation, shown = find_version(session=session, ref=format_ref(number, version))
    comment = create_comment(
        session=session, observation=observation, version=shown, author=user, body=content,
        settings=settings,
    )
    session.commit()
    return RedirectResponse(f"/{format_ref(number, version)}#comment-{comment.id}",
                            status_code=303)
