"""Phenomena: list them with their counts, read one, propose a new one."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import select

from server.deps import CurrentUser, SessionDep
from server.errors import Problem, not_found
from server.models import Phenomenon
from server.phenomena.catalogue import phenomenon_counts, phenomenon_public
from server.phenomena.schemas import PhenomenonCreate, PhenomenonPublic

router = APIRouter(tags=["phenomena"])


@router.get("/phenomena", response_model=list[PhenomenonPublic])
def list_phenomena(session: SessionDep) -> list[PhenomenonPublic]:
    """Every phenomenon with its count of observations and of verified ones."""
    counts = phenomenon_counts(session=session)
    rows = session.exec(select(Phenomenon).order_by(Phenomenon.id)).all()
    return [phenomenon_public(p, counts.get(p.id, (0, 0))) for p in rows]


@router.get("/phenomena/{slug}", response_model=PhenomenonPublic)
def get_phenomenon(slug: str, session: SessionDep) -> PhenomenonPublic:
    phenomenon = session.exec(select(Phenomenon).where(Phenomenon.slug == slug)).first()
    if phenomenon is None:
        raise not_found("Phenomenon", f"there is no phenomenon {slug!r}")
    counts = phenomenon_counts(session=session, phenomenon_id=phenomenon.id).get(
        phenomenon.id, (0, 0))
    return phenomenon_public(phenomenon, counts)


@router.post("/phenomena", status_code=201, response_model=PhenomenonPublic)
def propose_phenomenon(
    body: PhenomenonCreate, session: SessionDep, user: CurrentUser
) -> PhenomenonPublic:
    """Propose a new phenomenon (anyone signed in may)."""
    if session.exec(select(Phenomenon).where(Phenomenon.slug == body.slug)).first():
        raise Problem(409, "Phenomenon exists", f"the phenomenon {body.slug!r} already exists")
    phenomenon = Phenomenon(
        slug=body.slug, name=body.name, description=body.description, created_by=user.id
    )
    session.add(phenomenon)
    session.commit()
    return phenomenon_public(phenomenon)
