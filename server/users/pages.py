"""A user's page; signing in by pasting an API token (it goes into an http-only cookie)
and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlmodel import select

from server.community.comments import comments_by
from server.community.links import links_by, reproductions_by
from server.deps import SessionDep
from server.errors import not_found
from server.models import User
from server.observations.queries import list_observations
from server.observations.records import summaries
from server.users.schemas import UserPublic
from server.users.signin import (
    check_csrf,
    check_same_origin,
    clear_session_cookie,
    set_session_cookie,
    user_for_page_token,
)
from server.web.templating import render_page

router = APIRouter(include_in_schema=False)

# Observations on a user's page; the rest are a "more" link away.
PAGE_SIZE = 50
# Reproductions, links and comments shown on a user's page.
RECENT_ITEMS = 50


@router.get("/users/{handle}")
def user_page(request: Request, handle: str, session: SessionDep):
    """A user: their observations, their reproductions, their links and their comments."""
    user = session.exec(select(User).where(User.handle == handle)).first()
    if user is None:
        raise not_found("User", f"there is no user {handle!r}")
    rows, next_cursor = list_observations(session=session, author=handle, limit=PAGE_SIZE)
    return render_page(
        request, session, "user.html",
        user=UserPublic.model_validate(user),
        observations=summaries(session=session, rows=rows),
        more_url=f"/observations?author={handle}&cursor={next_cursor}" if next_cursor else None,
        reproductions=reproductions_by(session=session, user=user, limit=RECENT_ITEMS),
        links=links_by(session=session, user=user, limit=RECENT_ITEMS),
        comments=comments_by(session=session, user=user, limit=RECENT_ITEMS),
    )



def _local_path(target: str) -> str | None:
    """`target` if it is a path on this site (never another site: no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.get("/signin")
def signin_page(request: Request, session: SessionDep, next: str = ""):
    """The sign-in form."""
    return render_page(request, session, "signin.html", next=_local_path(next) or "", error=None)


@router.post("/signin")
def signin(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form()] = "",
):
    """Check the token and keep it in the `tycho_token` cookie."""
    check_same_origin(request)
    user = user_for_page_token(session=session, token=token.strip())
    if user is None:
        return render_page(
            request, session, "signin.html", status_code=401, next=_local_path(next) or "",
            error="That token is not a valid write token. Paste the token that "
            "`tycho user create` or POST /api/v1/users gave you.",
        )
    response = RedirectResponse(_local_path(next) or f"/users/{user.handle}", status_code=303)
    set_session_cookie(response, token=token.strip(), secure=request.url.scheme == "https")
    return response


@router.post("/signout")
def signout(request: Request, csrf: Annotated[str, Form()] = ""):
    """Forget the sign-in cookie."""
    check_csrf(request, csrf)
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response, secure=request.url.scheme == "https")
    return response
