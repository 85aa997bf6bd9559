"""What a user's page shows, and GET /api/v1/users/{handle} answers: the profile, their
newest observations, their reproductions, the other links they made and their comments."""

from __future__ import annotations

from pydantic import Field
from sqlmodel import Session, select

from server.community.comments import comments_by
from server.community.links import links_by, reproductions_by
from server.community.schemas import LinkPublic, UserComment
from server.errors import not_found
from server.models import User
from server.observations.records import observation_page
from server.observations.schemas import ObservationSummary
from server.users.schemas import UserPublic

# Observations shown with a profile; the rest are the next page of
# GET /observations?author=HANDLE, from `next_cursor`.
PAGE_SIZE = 50
# Reproductions, links and comments shown with a profile, newest first.
RECENT_ITEMS = 50


class UserProfile(UserPublic):
    observations: list[ObservationSummary] = Field(default_factory=list)
    next_cursor: str | None = Field(default=None, description="the rest of their observations: "
                                    "GET /observations?author=HANDLE&cursor=next_cursor")
    reproductions: list[LinkPublic] = Field(
        default_factory=list, description="links reproduces / fails-to-reproduce out of their "
        "observations")
    links: list[LinkPublic] = Field(default_factory=list, description="the other links they made")
    comments: list[UserComment] = Field(default_factory=list)


def find_user(*, session: Session, handle: str) -> User:
    user = session.exec(select(User).where(User.handle == handle)).first()
    if user is None:
        raise not_found("User", f"there is no user {handle!r}")
    return user


def user_profile(*, session: Session, user: User) -> UserProfile:
    page = observation_page(session=session, author=user.handle, limit=PAGE_SIZE)
    return UserProfile.of(
        user,
        observations=page.items,
        next_cursor=page.next_cursor,
        reproductions=reproductions_by(session=session, user=user, limit=RECENT_ITEMS),
        links=links_by(session=session, user=user, limit=RECENT_ITEMS),
        comments=comments_by(session=session, user=user, limit=RECENT_ITEMS),
    )
