"""API tokens: random, shown once, stored as sha256; scopes write / worker / admin."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, select

from server.errors import Problem
from server.models import ApiToken, TokenScope, User

TOKEN_PREFIX = "tyc_"


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no password stretching).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(*, session: Session, user: User, scope: TokenScope, label: str = "") -> str:
    """Create a token for `user`; the returned plain token is never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(user_id=user.id, token_hash=hash_token(token), scope=scope.value, label=label)
    )
    return token


def user_for_token(*, session: Session, token: str) -> tuple[User, TokenScope] | None:
    """The user and scope of a live token, or None."""
    row = session.exec(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    token_row, user = row
    return user, TokenScope(token_row.scope)


def authenticate(*, session: Session, token: str | None, need: TokenScope) -> User:
    """The user behind `token` if its scope allows `need`; 401/403 problems otherwise."""
    if not token:
        raise Problem(
            401,
            "Authentication needed",
            "send 'Authorization: Bearer <token>'; get a token with POST /api/v1/users "
            "or `tycho user create HANDLE`",
        )
    found = user_for_token(session=session, token=token)
    if found is None:
        raise Problem(401, "Unknown token", "this token is not recognised or was revoked")
    user, scope = found
    allowed = {
        TokenScope.write: {TokenScope.write, TokenScope.admin},
        TokenScope.worker: {TokenScope.worker, TokenScope.admin},
        TokenScope.admin: {TokenScope.admin},
    }[need]
    if scope not in allowed and not (need is TokenScope.write and user.is_admin):
        raise Problem(
            403,
            "Not allowed",
            f"this is a {scope.value} token; this action needs a {need.value} token",
        )
    return user
