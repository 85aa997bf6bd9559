"""Accounts: registration, the registry's own users, and `tycho user ...` in the database."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, select

from server.db import session_for
from server.errors import Problem
from server.models import ApiToken, TokenScope, User
from server.users.schemas import UserCreate
from server.users.tokens import hash_token, issue_token


def create_user(*, session: Session, body: UserCreate, scope: TokenScope = TokenScope.write,
                is_admin: bool = False) -> tuple[User, str]:
    """A new user and their first token (not committed)."""
    if session.exec(select(User).where(User.handle == body.handle)).first() is not None:
        raise Problem(409, "Handle taken", f"the handle {body.handle!r} is taken; pick another")
    user = User(
        handle=body.handle,
        display_name=body.display_name or body.handle,
        orcid=body.orcid,
        affiliation=body.affiliation,
        is_admin=is_admin,
    )
    session.add(user)
    session.flush()
    return user, issue_token(session=session, user=user, scope=scope, label="first token")


def create_user_with_token(database_url: str, *, handle: str, display_name: str = "",
                           admin: bool = False) -> str:
    """Create a user straight in the database; returns the plain token."""
    try:
        body = UserCreate(handle=handle, display_name=display_name)
    except ValueError:
        raise ValueError(f"{handle!r} is not a handle: 2-40 lower-case letters, digits, - or _") from None
    with session_for(database_url) as session:
        try:
            _, token = create_user(
                session=session, body=body, is_admin=admin,
                scope=TokenScope.admin if admin else TokenScope.write,
            )
        except Problem as exc:
            raise ValueError(exc.detail) from None
    return token


def issue_token_for(database_url: str, *, handle: str, scope: str, label: str = "") -> str:
    """Another token for an existing user."""
    try:
        token_scope = TokenScope(scope)
    except ValueError:
        raise ValueError(f"scope must be one of {', '.join(s.value for s in TokenScope)}") from None
    with session_for(database_url) as session:
        user = session.exec(select(User).where(User.handle == handle)).first()
        if user is None:
            raise ValueError(f"there is no user {handle!r}")
        return issue_token(session=session, user=user, scope=token_scope, label=label)


def ensure_user(*, session: Session, handle: str, display_name: str) -> User:
    """The user with this handle, created if missing (for the registry's own accounts)."""
    user = session.exec(select(User).where(User.handle == handle)).first()
    if user is None:
        user = User(handle=handle, display_name=display_name)
        session.add(user)
        session.flush()
    return user


def ensure_worker_token(*, session: Session, token: str) -> None:
    """Register a pre-shared worker token (TYCHO_WORKER_TOKEN) for the user `worker`."""
    digest = hash_token(token)
    if session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first() is not None:
        return
    user = ensure_user(session=session, handle="worker", display_name="Verification workers")
    session.add(ApiToken(user_id=user.id, token_hash=digest, scope=TokenScope.worker.value,
                         label="TYCHO_WORKER_TOKEN"))


def users_by_id(*, session: Session, ids: Iterable[int]) -> dict[int, User]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {u.id: u for u in session.exec(select(User).where(User.id.in_(wanted))).all()}
