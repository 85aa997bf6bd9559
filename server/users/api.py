"""Health, registration and the signed-in user."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError

import runner
from server.deps import CurrentUser, SessionDep, SettingsDep
from server.errors import Problem
from server.users.accounts import create_user
from server.users.profiles import UserProfile, find_user, user_profile
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


@router.get("/users/{handle}", response_model=UserProfile)
def get_user(handle: str, session: SessionDep) -> UserProfile:
    """A user's profile, newest observations, reproductions, links and comments."""
    user = find_user(session=session, handle=handle)
    return user_profile(session=session, user=user)
