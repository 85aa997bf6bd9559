"""The phenomena: named kinds of behaviour that observations are filed under, with counts."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from server.models import (
    Observation,
    ObservationPhenomenon,
    ObservationVersion,
    Phenomenon,
)
from server.phenomena.schemas import PhenomenonPublic

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
    return PhenomenonPublic.of(phenomenon, observations=counts[0], verified=counts[1])
