"""Links between observations and comments on them: create, check, present."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from runner.spec import Relation
from server.errors import Problem, invalid, not_found
from server.models import (
    Comment,
    CommentRevision,
    Link,
    MetricSeries,
    Observation,
    ObservationVersion,
    Phenomenon,
    User,
    utcnow,
)
from server.observations import author_run, find_version, format_ref, users_by_id

MAX_COMMENT_CHARS = 20_000
ARXIV = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5}(?:v\d+)?)$", re.IGNORECASE)
DOI = re.compile(r"^(?:doi:)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)
URL = re.compile(r"^https?://\S+$")


class LinkCreate(BaseModel):
    """`this observation <relation> target`; name exactly one kind of target."""

    relation: Relation
    target: str | None = Field(default=None, description="an observation: T-7 or T-7v2")
    targets: list[str] = Field(default_factory=list, description="several (for `unifies`)")
    phenomenon: str | None = Field(default=None, description="a phenomenon slug")
    external: str | None = Field(default=None, description="arXiv id, DOI or URL")
    note: str = Field(default="", max_length=5000)


class CommentCreate(BaseModel):
    body: str = Field(min_length=1)
    parent: int | None = None
    # Optional anchor on a curve of the version commented on.
    series: str | None = None
    x: float | None = None


class CommentEdit(BaseModel):
    body: str = Field(min_length=1)


def normalise_external(ref: str) -> tuple[str, str]:
    """An external work as (canonical reference, URL); a clear error otherwise."""
    ref = ref.strip()
    if match := ARXIV.match(ref):
        return f"arXiv:{match.group(1)}", f"https://arxiv.org/abs/{match.group(1)}"
    if match := DOI.match(ref):
        return f"doi:{match.group(1)}", f"https://doi.org/{match.group(1)}"
    if URL.match(ref):
        return ref, ref
    raise invalid(
        f"external: {ref!r} is not an arXiv id (2201.02177), a DOI (10.1234/abc) or an http(s) URL"
    )


def create_links(
    *, session: Session, source: ObservationVersion, author: User, body: LinkCreate
) -> list[Link]:
    """One link per target; checks self-links, unknown targets and duplicates."""
    kinds = [bool(body.target or body.targets), bool(body.phenomenon), bool(body.external)]
    if sum(kinds) != 1:
        raise invalid(
            "name exactly one kind of target: `target` (or `targets`), `phenomenon` or `external`"
        )
    refs = [body.target] if body.target else []
    refs += body.targets
    if len(refs) > 1 and body.relation is not Relation.unifies:
        raise invalid(
            f"only `unifies` may point at several observations, not `{body.relation.value}`; "
            "post one link per target"
        )
    rows: list[Link] = []
    base = dict(source_version_id=source.id, relation=body.relation.value, note=body.note,
                author_id=author.id)
    for ref in dict.fromkeys(refs):
        try:
            target_observation, target = find_version(session=session, ref=ref)
        except Problem:
            raise invalid(f"target: there is no observation {ref!r}") from None
        if target_observation.id == source.observation_id:
            raise invalid(f"an observation cannot link to itself ({ref})")
        rows.append(Link(**base, target_version_id=target.id))
    if body.phenomenon:
        phenomenon = session.exec(
            select(Phenomenon).where(Phenomenon.slug == body.phenomenon)
        ).first()
        if phenomenon is None:
            raise invalid(f"phenomenon: there is no phenomenon {body.phenomenon!r}")
        rows.append(Link(**base, target_phenomenon_id=phenomenon.id))
    if body.external:
        canonical, _ = normalise_external(body.external)
        rows.append(Link(**base, target_external=canonical))
    for row in rows:
        duplicate = session.exec(
            select(Link.id).where(
                Link.source_version_id == row.source_version_id,
                Link.relation == row.relation,
                Link.target_version_id == row.target_version_id
                if row.target_version_id is not None
                else Link.target_version_id.is_(None),
                Link.target_phenomenon_id == row.target_phenomenon_id
                if row.target_phenomenon_id is not None
                else Link.target_phenomenon_id.is_(None),
                Link.target_external == row.target_external,
            )
        ).first()
        if duplicate is not None:
            raise Problem(409, "Duplicate link", "this link already exists")
        session.add(row)
    try:
        session.flush()
    except IntegrityError:  # a concurrent identical link; the request rolls back
        raise Problem(409, "Duplicate link", "this link already exists") from None
    return rows


def _version_refs(session: Session, version_ids: set[int]) -> dict[int, tuple[str, str, int]]:
    """version id -> (T-nvk, title, observation id)."""
    if not version_ids:
        return {}
    rows = session.exec(
        select(ObservationVersion).where(ObservationVersion.id.in_(version_ids))
    ).all()
    return {
        v.id: (format_ref(v.observation_id, v.version), v.title, v.observation_id) for v in rows
    }


def links_public(*, session: Session, links: list[Link]) -> list[dict[str, Any]]:
    version_ids = {l.source_version_id for l in links} | {
        l.target_version_id for l in links if l.target_version_id
    }
    refs = _version_refs(session, version_ids)
    phenomena = {
        p.id: p.slug
        for p in session.exec(
            select(Phenomenon).where(
                Phenomenon.id.in_({l.target_phenomenon_id for l in links if l.target_phenomenon_id})
            )
        ).all()
    } if any(l.target_phenomenon_id for l in links) else {}
    authors = users_by_id(session=session, ids={l.author_id for l in links})
    result = []
    for link in links:
        if link.target_version_id:
            ref, title, _ = refs[link.target_version_id]
            target = {"kind": "observation", "id": ref, "title": title}
        elif link.target_phenomenon_id:
            target = {"kind": "phenomenon", "slug": phenomena[link.target_phenomenon_id]}
        else:
            _, url = normalise_external(link.target_external)
            target = {"kind": "external", "ref": link.target_external, "url": url}
        source_ref, source_title, _ = refs[link.source_version_id]
        result.append(
            {
                "id": link.id,
                "source": {"kind": "observation", "id": source_ref, "title": source_title},
                "relation": link.relation,
                "target": target,
                "note": link.note,
                "author": authors[link.author_id].handle,
                "created_at": link.created_at,
            }
        )
    return result


def links_of(*, session: Session, observation: Observation) -> dict[str, list[dict[str, Any]]]:
    """Links out of and into any version of an observation."""
    version_ids = session.exec(
        select(ObservationVersion.id).where(ObservationVersion.observation_id == observation.id)
    ).all()
    rows = session.exec(
        select(Link)
        .where(
            or_(Link.source_version_id.in_(version_ids), Link.target_version_id.in_(version_ids))
        )
        .order_by(Link.id)
    ).all()
    ours = set(version_ids)
    outgoing = [l for l in rows if l.source_version_id in ours]
    incoming = [l for l in rows if l.source_version_id not in ours]
    return {
        "outgoing": links_public(session=session, links=outgoing),
        "incoming": links_public(session=session, links=incoming),
    }


def reproduction_counts(*, session: Session, observation: Observation) -> dict[str, int]:
    """Independent reproductions and failures: distinct users other than the author."""
    version_ids = session.exec(
        select(ObservationVersion.id).where(ObservationVersion.observation_id == observation.id)
    ).all()
    rows = session.exec(
        select(Link.relation, Link.author_id).where(
            Link.target_version_id.in_(version_ids),
            Link.relation.in_([Relation.reproduces.value, Relation.fails_to_reproduce.value]),
        )
    ).all()
    users: dict[str, set[int]] = defaultdict(set)
    for relation, author_id in rows:
        if author_id != observation.author_id:
            users[relation].add(author_id)
    return {
        "reproduced_by": len(users[Relation.reproduces.value]),
        "failed_by": len(users[Relation.fails_to_reproduce.value]),
    }


def attach_community(*, session: Session, record: Any, observation: Observation) -> None:
    """Add the links and reproduction counts of an observation to its API record."""
    record.links = links_of(session=session, observation=observation)
    record.reproductions = reproduction_counts(session=session, observation=observation)


# --- comments ------------------------------------------------------------------


def create_comment(
    *, session: Session, observation: Observation, version: ObservationVersion, author: User,
    body: CommentCreate,
) -> Comment:
    if len(body.body) > MAX_COMMENT_CHARS:
        raise invalid(f"body: {len(body.body):,} characters; the limit is {MAX_COMMENT_CHARS:,}")
    if body.parent is not None:
        parent = session.get(Comment, body.parent)
        if parent is None or parent.observation_id != observation.id:
            raise invalid(
                f"parent: there is no comment {body.parent} on {format_ref(observation.id)}"
            )
    if body.x is not None and body.series is None:
        raise invalid("x: a point on a curve needs `series` too")
    if body.series is not None:
        run = author_run(session=session, version=version)
        names = session.exec(select(MetricSeries.name).where(MetricSeries.run_id == run.id)).all()
        if body.series not in names:
            raise invalid(
                f"series: {format_ref(observation.id, version.version)} has no series "
                f"{body.series!r}; it has: {', '.join(sorted(names))}"
            )
    comment = Comment(
        observation_id=observation.id,
        version=version.version,
        author_id=author.id,
        parent_id=body.parent,
        body=body.body,
        series=body.series,
        x=body.x,
    )
    session.add(comment)
    session.flush()
    return comment


def find_comment(*, session: Session, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise not_found("Comment", f"there is no comment {comment_id}")
    return comment


def edit_comment(*, session: Session, comment: Comment, user: User, body: str) -> Comment:
    """Change a comment's body (its author only); the earlier body goes to the history."""
    if comment.author_id != user.id:
        raise Problem(403, "Not allowed", "only a comment's author may edit it")
    if comment.deleted_at is not None:
        raise Problem(409, "Deleted", "this comment was deleted")
    if len(body) > MAX_COMMENT_CHARS:
        raise invalid(f"body: {len(body):,} characters; the limit is {MAX_COMMENT_CHARS:,}")
    # The earlier body, dated when it was written.
    session.add(CommentRevision(comment_id=comment.id, body=comment.body,
                                created_at=comment.edited_at or comment.created_at))
    comment.body = body
    comment.edited_at = utcnow()
    session.add(comment)
    return comment


def delete_comment(*, session: Session, comment: Comment, user: User) -> Comment:
    """Leave a tombstone in the thread (author or admin); replies stay."""
    if comment.author_id != user.id and not user.is_admin:
        raise Problem(403, "Not allowed", "only a comment's author or an admin may delete it")
    comment.deleted_at = utcnow()
    comment.body = ""
    session.add(comment)
    return comment


def comment_public(comment: Comment, authors: dict[int, User]) -> dict[str, Any]:
    deleted = comment.deleted_at is not None
    return {
        "id": comment.id,
        "observation": format_ref(comment.observation_id, comment.version),
        "author": None if deleted else authors[comment.author_id].handle,
        "body": "" if deleted else comment.body,
        "deleted": deleted,
        "parent": comment.parent_id,
        "series": comment.series,
        "x": comment.x,
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
        "replies": [],
    }


def comment_thread(*, session: Session, observation: Observation) -> list[dict[str, Any]]:
    """Comments as a tree (replies nested), oldest first."""
    rows = session.exec(
        select(Comment).where(Comment.observation_id == observation.id).order_by(Comment.id)
    ).all()
    authors = users_by_id(session=session, ids={c.author_id for c in rows})
    nodes = {c.id: comment_public(c, authors) for c in rows}
    roots = []
    for comment in rows:
        node = nodes[comment.id]
        if comment.parent_id and comment.parent_id in nodes:
            nodes[comment.parent_id]["replies"].append(node)
        else:
            roots.append(node)
    return roots
