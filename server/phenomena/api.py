"""The registry at a glance, and phenomena: list them, read one, propose a new one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import select

from runner.spec import MAX_ID
from server.deps import CurrentUser, SessionDep
from server.errors import Problem
from server.models import Phenomenon
from server.phenomena.catalogue import (
    all_phenomena,
    find_phenomenon,
    overview,
    phenomenon_detail,
    phenomenon_public,
)
from server.web.markup import render_markdown
from server.phenomena.schemas import (
    Overview,
    PhenomenonCreate,
    PhenomenonDetail,
    PhenomenonPublic,
)

router = APIRouter(tags=["phenomena"])


@router.get("/", response_model=Overview)
def get_overview(session: SessionDep) -> Overview:
    """Every phenomenon with its counts, and the newest observations (the home page's twin)."""
    return overview(session=session)


@router.get("/phenomena", response_model=list[PhenomenonPublic])
def list_phenomena(session: SessionDep) -> list[PhenomenonPublic]:
    """Every phenomenon with its count of observations and of verified ones."""
    return all_phenomena(session=session)


@router.get("/phenomena/{slug}", response_model=PhenomenonDetail)
def get_phenomenon(
    slug: str,
    session: SessionDep,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_ID,
                                        description="next_cursor of the previous page")] = None,
) -> PhenomenonDetail:
    """A phenomenon with its counts, a page of its observations and the links among them."""
    phenomenon = find_phenomenon(session=session, slug=slug)
    return phenomenon_detail(session=session, phenomenon=phenomenon, cursor=cursor)


@router.post("/phenomena", status_code=201, response_model=PhenomenonPublic)
def propose_phenomenon(
    body: PhenomenonCreate, session: SessionDep, user: CurrentUser
) -> PhenomenonPublic:
    """Propose a new phenomenon (anyone signed in may)."""
    if session.exec(select(Phenomenon).where(Phenomenon.slug == body.slug)).first():
        raise Problem(409, "Phenomenon exists", f"the phenomenon {body.slug!r} already exists")
    phenomenon = Phenomenon(
        slug=body.slug, name=body.name, description=body.description,
        description_html=str(render_markdown(body.description)), created_by=user.id
    )
    session.add(phenomenon)
    session.commit()
    return phenomenon_public(phenomenon)
