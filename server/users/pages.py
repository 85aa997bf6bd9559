"""A user's page; signing in by pasting an API token (it goes into an http-only cookie)
and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from server.deps import SessionDep
from server.users.profiles import find_user, user_profile
from server.users.schemas import UserPublic
from server.users.signin import (
    check_csrf,
    check_signin_csrf,
    clear_session_cookie,
    set_session_cookie,
    set_signin_cookie,
    signed_in_user,
    signin_form_token,
    user_for_page_token,
)
from server.web.templating import render_page, route_url

router = APIRouter(include_in_schema=False)


@router.get("/users/{handle}", response_class=HTMLResponse)
def user_page(request: Request, handle: str, session: SessionDep):
    """A user: their observations, their reproductions, their links and their comments."""
    record = user_profile(session=session, user=find_user(session=session, handle=handle))
    return render_page(
        request, session, "user.html", record=record,
        twin=route_url(request, "get_user", handle=handle),
        more_url=f"/observations?author={handle}&cursor={record.next_cursor}"
        if record.next_cursor else None,
    )


def _local_path(target: str) -> str | None:
    """`target` if it is a path on this site (never another site: no open redirect)."""
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable()):
        return target
    return None


def _signin_form(request: Request, session, next: str, error: str | None = None,
                 status_code: int = 200):
    """The sign-in form; its twin is who the cookie's token belongs to (GET /api/v1/me)."""
    viewer = signed_in_user(session=session, request=request)
    form_token, fresh_secret = signin_form_token(request)
    response = render_page(request, session, "signin.html", status_code=status_code,
                           record=UserPublic.model_validate(viewer) if viewer else None,
                           twin=route_url(request, "me"), next=_local_path(next) or "",
                           error=error, signin_csrf=form_token)
    if fresh_secret:
        set_signin_cookie(response, secret=fresh_secret, secure=request.url.scheme == "https")
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, session: SessionDep, next: str = ""):
    """The sign-in form."""
    return _signin_form(request, session, next)


@router.post("/signin")
def signin(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
):
    """Check the form's CSRF token and the API token, and keep the latter in the
    `tycho_token` cookie."""
    check_signin_csrf(request, csrf)
    user = user_for_page_token(session=session, token=token.strip())
    if user is None:
        return _signin_form(
            request, session, next, status_code=401,
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
