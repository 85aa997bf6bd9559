"""Health, registration and the signed-in user."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

import runner
from server.deps import CurrentUser, SessionDep, SettingsDep
from server.errors import Problem, not_found
from server.models import User
from server.users.accounts import create_user
from server.users.schemas import Health, UserCreate, UserCreated, UserPublic

router = APIRouter(tags=["users"])


@router.get("/health", response_model=Health)
def health() -> Health:
    """Liveness and the server's version."""
    return Health(version=runner.__version__)


@router.post("/users", status_code=201, response_model=UserCreated)
def register(body: UserCreate, session: SessionDep, settings: SettingsDep) -> UserCreated:
    """Register a user; the token in the answer is shown once."""
    if not settings.open_registration:
        raise Problem(
            403,
            "Registration closed",
            "this registry does not take open registrations; ask its admin for an account",
        )
    user, token = create_user(session=session, body=body)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Problem(409, "Handle taken", f"the handle {body.handle!r} is taken") from None
    return UserCreated(user=user, token=token)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    """The user the token belongs to."""
    return UserPublic.model_validate(user)


@router.get("/users/{handle}", response_model=UserPublic)
def get_user(handle: str, session: SessionDep) -> UserPublic:
    user = session.exec(select(User).where(User.handle == handle)).first()
    if user is None:
        raise not_found("User", f"there is no user {handle!r}")
    return UserPublic.model_validate(user)
