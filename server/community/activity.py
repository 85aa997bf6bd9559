"""What happened in the registry, as feed entries: new observation versions (in all,
or under a phenomenon), and the links, comments and versions of one observation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, select

from server.db import aware
from server.models import (Comment, Link, Observation, ObservationPhenomenon,
                           ObservationVersion, Phenomenon, User)
from server.observations.queries import format_ref, phenomena_of
from server.users.accounts import users_by_id

# Entries per feed: readers poll often, so a page of the newest is plenty.
FEED_ENTRIES = 50


@dataclass
class FeedEntry:
    """One thing that happened, as a feed entry."""

    id: str  # the permalink of what it announces
    title: str
    author: str
    published: datetime
    content: str
    link: str = ""  # the page to read it on, when not `id`
    updated: datetime | None = None
    categories: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.link = self.link or self.id


def _name(user: User) -> str:
    return f"{user.display_name} ({user.handle})" if user.display_name else user.handle


def newest_versions(
    *, session: Session, public_url: str, phenomenon: Phenomenon | None = None,
    limit: int = FEED_ENTRIES,
) -> list[FeedEntry]:
    """Published observation versions, newest first (withdrawn observations left out)."""
    query = (
        select(ObservationVersion, Observation)
        .join(Observation, Observation.id == ObservationVersion.observation_id)
        .where(Observation.withdrawn_at.is_(None))
    )
    if phenomenon is not None:
        query = query.join(
            ObservationPhenomenon, ObservationPhenomenon.version_id == ObservationVersion.id
        ).where(ObservationPhenomenon.phenomenon_id == phenomenon.id)
    rows = session.exec(
        query.order_by(ObservationVersion.created_at.desc(), ObservationVersion.id.desc())
        .limit(limit)
    ).all()
    return _version_entries(session=session, rows=rows, public_url=public_url)


def _version_entries(*, session: Session, rows, public_url: str) -> list[FeedEntry]:
    base = public_url.rstrip("/")
    authors = users_by_id(session=session, ids={o.author_id for _, o in rows})
    slugs = phenomena_of(session=session, version_ids=[v.id for v, _ in rows])
    entries = []
    for version, observation in rows:
        ref = format_ref(observation.id, version.version)
        author = authors[observation.author_id]
        what = "posted" if version.version == 1 else f"published version {version.version}"
        lines = [f"{_name(author)} {what}. Verdict: {version.verdict}."]
        if version.change_message:
            lines.append(f"What changed: {version.change_message}")
        lines += [f"Claim: {claim}" for claim in version.claims]
        if version.notes:
            lines += ["", version.notes]
        entries.append(FeedEntry(id=f"{base}/{ref}", title=f"{ref}: {version.title}",
                                 author=_name(author), published=aware(version.created_at),
                                 content="\n".join(lines), categories=slugs.get(version.id, [])))
    return entries


def observation_activity(
    *, session: Session, observation: Observation, public_url: str, limit: int = FEED_ENTRIES
) -> list[FeedEntry]:
    """Links into and out of an observation, comments on it and its new versions, newest first."""
    base = public_url.rstrip("/")
    versions = session.exec(
        select(ObservationVersion).where(ObservationVersion.observation_id == observation.id)
    ).all()
    ids = [v.id for v in versions]
    links = session.exec(
        select(Link)
        .where(or_(Link.source_version_id.in_(ids), Link.target_version_id.in_(ids)))
        .order_by(Link.id.desc())
        .limit(limit)
    ).all()
    comments = session.exec(
        select(Comment)
        .where(Comment.observation_id == observation.id, Comment.deleted_at.is_(None))
        .order_by(Comment.id.desc())
        .limit(limit)
    ).all()
    people = users_by_id(
        session=session,
        ids={l.author_id for l in links} | {c.author_id for c in comments}
        | {observation.author_id},
    )
    entries = _link_entries(session, links, people, base)
    for comment in comments:
        ref = format_ref(observation.id, comment.version)
        author = people[comment.author_id]
        verb = "replied on" if comment.parent_id else "commented on"
        where = f" at {comment.series}" if comment.series else ""
        if comment.x is not None:
            where += f", x = {comment.x:g}"
        entries.append(FeedEntry(id=f"{base}/{ref}#comment-{comment.id}",
                                 title=f"{author.handle} {verb} {ref}{where}",
                                 author=_name(author), published=aware(comment.created_at),
                                 content=comment.body,
                                 updated=aware(comment.edited_at) if comment.edited_at else None))
    later = [v for v in versions if v.version > 1]
    entries += _version_entries(
        session=session, rows=[(v, observation) for v in later], public_url=public_url
    )
    entries.sort(key=lambda e: (e.published, e.id), reverse=True)
    return entries[:limit]


def _link_entries(session: Session, links: list[Link], people: dict[int, User],
                  base: str) -> list[FeedEntry]:
    ends = {l.source_version_id for l in links} | {
        l.target_version_id for l in links if l.target_version_id is not None
    }
    refs = {
        v.id: format_ref(v.observation_id, v.version)
        for v in session.exec(select(ObservationVersion).where(ObservationVersion.id.in_(ends)))
    } if ends else {}
    slugs = {
        p.id: p.slug
        for p in session.exec(select(Phenomenon).where(Phenomenon.id.in_(
            {l.target_phenomenon_id for l in links if l.target_phenomenon_id is not None})))
    }
    entries = []
    for link in links:
        source = refs[link.source_version_id]
        if link.target_version_id is not None:
            target = refs[link.target_version_id]
        elif link.target_phenomenon_id is not None:
            target = f"phenomenon {slugs[link.target_phenomenon_id]}"
        else:
            target = link.target_external
        author = people[link.author_id]
        said = f"{_name(author)} linked {source} {link.relation} {target}."
        entries.append(FeedEntry(id=f"{base}/{source}#link-{link.id}",
                                 title=f"{source} {link.relation} {target}",
                                 author=_name(author), published=aware(link.created_at),
                                 content=said + (f"\n\n{link.note}" if link.note else ""),
                                 link=f"{base}/{source}#links", categories=[link.relation]))
    return entries
