"""Reads the pages need beyond what the API modules offer: links among a phenomenon's
observations, a user's reproductions, links and comments. Each is one bounded query."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from runner.spec import Relation
from server.community import links_public
from server.models import (
    Comment,
    Link,
    Observation,
    ObservationPhenomenon,
    ObservationVersion,
    User,
)
from server.observations import format_ref

REPRODUCTION_RELATIONS = (Relation.reproduces.value, Relation.fails_to_reproduce.value)


def links_within_phenomenon(
    *, session: Session, phenomenon_id: int, limit: int
) -> list[dict[str, Any]]:
    """The newest links whose source and target are both filed under the phenomenon."""
    source = aliased(ObservationPhenomenon)
    target = aliased(ObservationPhenomenon)
    rows = session.exec(
        select(Link)
        .join(source, source.version_id == Link.source_version_id)
        .join(target, target.version_id == Link.target_version_id)
        .where(source.phenomenon_id == phenomenon_id, target.phenomenon_id == phenomenon_id)
        .order_by(Link.id.desc())
        .limit(limit)
    ).all()
    return links_public(session=session, links=list(rows))


def reproductions_by(*, session: Session, user: User, limit: int) -> list[dict[str, Any]]:
    """Links `reproduces` / `fails-to-reproduce` out of the user's own observations."""
    rows = session.exec(
        select(Link)
        .join(ObservationVersion, ObservationVersion.id == Link.source_version_id)
        .join(Observation, Observation.id == ObservationVersion.observation_id)
        .where(Observation.author_id == user.id, Link.relation.in_(REPRODUCTION_RELATIONS))
        .order_by(Link.id.desc())
        .limit(limit)
    ).all()
    return links_public(session=session, links=list(rows))


def links_by(*, session: Session, user: User, limit: int) -> list[dict[str, Any]]:
    """The other links the user made (extends, explains, unifies, ...), newest first."""
    rows = session.exec(
        select(Link)
        .where(Link.author_id == user.id, Link.relation.not_in(REPRODUCTION_RELATIONS))
        .order_by(Link.id.desc())
        .limit(limit)
    ).all()
    return links_public(session=session, links=list(rows))


def comments_by(*, session: Session, user: User, limit: int) -> list[dict[str, Any]]:
    """The user's comments (not deleted), newest first, with the observation they are on."""
    rows = session.exec(
        select(Comment, ObservationVersion.title)
        .join(Observation, Observation.id == Comment.observation_id)
        .join(ObservationVersion, ObservationVersion.id == Observation.latest_version_id)
        .where(Comment.author_id == user.id, Comment.deleted_at.is_(None))
        .order_by(Comment.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": comment.id,
            "observation": format_ref(comment.observation_id, comment.version),
            "title": title,
            "body": comment.body,
            "created_at": comment.created_at,
        }
        for comment, title in rows
    ]


def group_by_relation(links: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Links grouped by relation, in the order of the relation vocabulary."""
    order = {relation.value: i for i, relation in enumerate(Relation)}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for link in sorted(links, key=lambda l: order.get(l["relation"], len(order))):
        grouped.setdefault(link["relation"], []).append(link)
    return grouped
