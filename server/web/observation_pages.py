"""The observation page (`/T-42`, `/T-42v2`) and its comment form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from server.community import CommentCreate, create_comment
from server.deps import SessionDep
from server.errors import invalid
from server.observations import find_version, format_ref
from server.web.observation_view import observation_view
from server.web.plots import panels_json
from server.web.session import check_csrf, require_signed_in
from server.web.templating import render_page

router = APIRouter(include_in_schema=False)


def _render(request: Request, session, ref: str):
    observation, version = find_version(session=session, ref=ref)
    view = observation_view(session=session, observation=observation, version=version)
    return render_page(request, session, "observation.html", view=view, record=view.record,
                       plots_json=panels_json(view.panels))


@router.get("/T-{number:int}")
def latest_observation_page(request: Request, number: int, session: SessionDep):
    """The latest version of an observation."""
    return _render(request, session, format_ref(number))


@router.get("/T-{number:int}v{version:int}")
def observation_version_page(request: Request, number: int, version: int, session: SessionDep):
    """One version of an observation, as published."""
    return _render(request, session, format_ref(number, version))


@router.post("/T-{number:int}v{version:int}/comments")
def post_comment_form(
    request: Request,
    number: int,
    version: int,
    session: SessionDep,
    body: Annotated[str, Form(max_length=20_000)] = "",
    parent: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
):
    """The page's comment form: comment (or reply) as the signed-in user, then back to it."""
    user = require_signed_in(session=session, request=request, doing="comment")
    check_csrf(request, csrf)
    if not body.strip():
        raise invalid("the comment is empty; write something before posting")
    if parent and not parent.isdigit():
        raise invalid(f"parent: {parent!r} is not a comment number")
    observation, shown = find_version(session=session, ref=format_ref(number, version))
    comment = create_comment(
        session=session, observation=observation, version=shown, author=user,
        body=CommentCreate(body=body, parent=int(parent) if parent else None),
    )
    session.commit()
    return RedirectResponse(f"/{format_ref(number, version)}#comment-{comment.id}",
                            status_code=303)
