"""Signing in on the pages: the API token in an http-only cookie, and CSRF protection.

The cookie is `tycho_token` (server.deps.SESSION_COOKIE), http-only (page scripts
cannot read it) and SameSite=Strict (other sites' forms and fetches do not carry
it). Every form that changes something also carries a CSRF token derived from
the session token, which another site can neither read nor compute, and a
request whose Origin is not this site (or is `null`) is refused.

The sign-in form itself is protected the same way, so that another site cannot
sign a visitor in as someone else (login CSRF): showing it sets a random,
http-only, SameSite=Strict `tycho_signin` cookie, the form carries a token
derived from it, and a sign-in whose token does not match that cookie is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response
from sqlmodel import Session

from server.deps import SESSION_COOKIE
from server.errors import Problem
from server.models import TokenScope, User
from server.users.tokens import user_for_token

# How long a browser keeps the sign-in (the token itself lives until revoked).
COOKIE_MAX_AGE_S = 30 * 24 * 3600
# Scopes that may act as a person on the pages (a worker token may not).
PERSON_SCOPES = {TokenScope.write, TokenScope.admin}
# The sign-in form's own secret (see the module's docstring), kept for a day.
SIGNIN_COOKIE = "tycho_signin"
SIGNIN_COOKIE_MAX_AGE_S = 24 * 3600


def user_for_page_token(*, session: Session, token: str | None) -> User | None:
    """The person a write/admin token belongs to, or None."""
    if not token:
        return None
    found = user_for_token(session=session, token=token)
    if found is None or found[1] not in PERSON_SCOPES:
        return None
    return found[0]


def signed_in_user(*, session: Session, request: Request) -> User | None:
    """The user of the request's sign-in cookie, if it is valid."""
    return user_for_page_token(session=session, token=request.cookies.get(SESSION_COOKIE))


def csrf_token(request: Request) -> str:
    """The form token of this sign-in ("" when signed out)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return ""
    return hmac.new(b"tycho-page-forms", token.encode(), hashlib.sha256).hexdigest()


def check_same_origin(request: Request) -> None:
    """Refuse a form post that a browser says came from another site, or from an opaque
    origin (`Origin: null`: a sandboxed frame, a data: URL, a file)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return  # not a browser (curl, tests); the CSRF token still has to match
    if origin == "null" or urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Problem(403, "Cross-site request refused",
                      "this form was posted from another site; post it from Tycho's own page")


def check_csrf(request: Request, submitted: str) -> None:
    """Refuse a form post whose CSRF token does not belong to this sign-in."""
    check_same_origin(request)
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(expected, submitted or ""):
        raise Problem(403, "Form expired",
                      "this form does not belong to your current sign-in; reload the page "
                      "and try again")


def _signin_form_token(secret: str) -> str:
    return hmac.new(b"tycho-signin-form", secret.encode(), hashlib.sha256).hexdigest()


def signin_form_token(request: Request) -> tuple[str, str | None]:
    """The sign-in form's CSRF token, and the new `tycho_signin` cookie to set when the
    browser has none yet (else None)."""
    secret = request.cookies.get(SIGNIN_COOKIE, "")
    fresh = None
    if not 20 <= len(secret) <= 100:
        secret = fresh = secrets.token_urlsafe(32)
    return _signin_form_token(secret), fresh


def set_signin_cookie(response: Response, *, secret: str, secure: bool) -> None:
    response.set_cookie(SIGNIN_COOKIE, secret, max_age=SIGNIN_COOKIE_MAX_AGE_S, path="/signin",
                        httponly=True, samesite="strict", secure=secure)


def check_signin_csrf(request: Request, submitted: str) -> None:
    """Refuse a sign-in that was not posted from the form this site showed this browser."""
    check_same_origin(request)
    secret = request.cookies.get(SIGNIN_COOKIE, "")
    if not secret or not hmac.compare_digest(_signin_form_token(secret), submitted or ""):
        raise Problem(403, "Form expired",
                      "this sign-in form was not shown by this site to this browser, or it "
                      "expired; open /signin again and paste your token there")


def require_signed_in(*, session: Session, request: Request, doing: str) -> User:
    """The signed-in user, or a 401 page that says how to sign in."""
    user = signed_in_user(session=session, request=request)
    if user is None:
        raise Problem(401, "Sign in first", f"sign in with your API token at /signin to {doing}")
    return user


def set_session_cookie(response: Response, *, token: str, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=COOKIE_MAX_AGE_S, path="/", httponly=True,
        samesite="strict", secure=secure,
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=secure)
