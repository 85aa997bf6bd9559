"""Phenomena: named kinds of behaviour that observations are filed under."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func
from sqlmodel import Session, select

from server.deps import CurrentUser, SessionDep
from server.errors import Problem, not_found
from server.models import Observation, ObservationPhenomenon, ObservationVersion, Phenomenon
from server.schemas import PhenomenonCreate, PhenomenonPublic

router = APIRouter(tags=["phenomena"])

VERIFIED = ("reproduced", "robust", "fragile")


def phenomenon_counts(*, session: Session) -> dict[int, tuple[int, int]]:
    """phenomenon id -> (observations, verified observations), latest versions only."""
    counts: dict[int, list[int]] = {}
    query = (
        select(ObservationPhenomenon.phenomenon_id, ObservationVersion.verdict, func.count())
        .join(ObservationVersion, ObservationVersion.id == ObservationPhenomenon.version_id)
        .join(Observation, Observation.latest_version_id == ObservationVersion.id)
        .where(Observation.withdrawn_at.is_(None))
        .group_by(ObservationPhenomenon.phenomenon_id, ObservationVersion.verdict)
    )
    for phenomenon_id, verdict, count in session.exec(query).all():
        entry = counts.setdefault(phenomenon_id, [0, 0])
        entry[0] += count
        if verdict in VERIFIED:
            entry[1] += count
    return {k: (v[0], v[1]) for k, v in counts.items()}


def phenomenon_public(phenomenon: Phenomenon, counts: tuple[int, int] = (0, 0)) -> PhenomenonPublic:
    return PhenomenonPublic(
        slug=phenomenon.slug,
        name=phenomenon.name,
        description=phenomenon.description,
        observations=counts[0],
        verified=counts[1],
    )


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
    counts = phenomenon_counts(session=session).get(phenomenon.id, (0, 0))
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
