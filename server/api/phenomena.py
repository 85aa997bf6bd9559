"""Phenomena: named kinds of behaviour that observations are filed under."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func
from sqlmodel import Session, select

from server.deps import CurrentUser, SessionDep
from server.errors import Problem, not_found
from server.models import (
    Observation,
    ObservationPhenomenon,
    ObservationVersion,
    Phenomenon,
)
from server.schemas import PhenomenonCreate, PhenomenonPublic

router = APIRouter(tags=["phenomena"])

VERIFIED = ("reproduced", "robust", "fragile")


def phenomenon_counts(
    *, session: Session, phenomenon_id: int | None = None
) -> dict[int, tuple[int, int]]:
    """phenomenon id -> (observations, verified ones), latest live versions only.

    Asked so that SQLite answers from indexes alone: it walks the verdict index,
    then the (latest_version_id, withdrawn_at) index and observation_phenomenon's
    key, and never reads the wide version rows (at 10,000 observations: 10 ms,
    against 32 ms when starting from observation_phenomenon).
    """
    query = (
        select(ObservationPhenomenon.phenomenon_id, ObservationVersion.verdict, func.count())
        .select_from(ObservationVersion)
        .join(Observation, Observation.latest_version_id == ObservationVersion.id)
        .join(ObservationPhenomenon, ObservationPhenomenon.version_id == ObservationVersion.id)
        .where(Observation.withdrawn_at.is_(None))
        .group_by(ObservationVersion.verdict, ObservationPhenomenon.phenomenon_id)
    )
    if phenomenon_id is not None:
        query = query.where(ObservationPhenomenon.phenomenon_id == phenomenon_id)
    counts: dict[int, tuple[int, int]] = {}
    for phenomenon, verdict, count in session.exec(query).all():
        total, verified = counts.get(phenomenon, (0, 0))
        counts[phenomenon] = (total + count, verified + (count if verdict in VERIFIED else 0))
    return counts


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
