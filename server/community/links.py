"""Links between observations: create and check them, and read them back.

A link is `source <relation> target`: the source is an observation version,
the target another version, a phenomenon or an external work (arXiv, DOI, URL).
"""

from __future__ import annotations

import re
from collections import defaultdict
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, select
from sqlmodel.sql.expression import Select

from runner.spec import Relation
from server.community.schemas import (
    ExternalEnd,
    LinkCreate,
    LinkEnd,
    LinkPublic,
    LinksOf,
    ObservationEnd,
    PhenomenonEnd,
    Reproductions,
)
from server.errors import Problem, invalid
from server.models import (Link, Observation, ObservationPhenomenon, ObservationVersion,
                           Phenomenon, User)
from server.observations.queries import find_version, format_ref
from server.users.accounts import users_by_id
from server.web.markup import render_markdown

ARXIV = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5}(?:v\d+)?)$", re.IGNORECASE)
DOI = re.compile(r"^(?:doi:)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)
URL = re.compile(r"^https?://\S+$")
REPRODUCTION_RELATIONS = (Relation.reproduces.value, Relation.fails_to_reproduce.value)


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
                note_html=str(render_markdown(body.note)), author_id=author.id)
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


def _version_ends(session: Session, version_ids: set[int]) -> dict[int, ObservationEnd]:
    """version id -> that version as the end of a link (T-nvk and its title)."""
    if not version_ids:
        return {}
    rows = session.exec(
        select(ObservationVersion).where(ObservationVersion.id.in_(version_ids))
    ).all()
    return {v.id: ObservationEnd(id=format_ref(v.observation_id, v.version), title=v.title)
            for v in rows}


def links_public(*, session: Session, links: list[Link]) -> list[LinkPublic]:
    """The links as the API shows them, with three queries in all."""
    ends = _version_ends(session, {l.source_version_id for l in links} | {
        l.target_version_id for l in links if l.target_version_id
    })
    phenomenon_ids = {l.target_phenomenon_id for l in links if l.target_phenomenon_id}
    slugs = dict(session.exec(
        select(Phenomenon.id, Phenomenon.slug).where(Phenomenon.id.in_(phenomenon_ids))
    ).all()) if phenomenon_ids else {}
    authors = users_by_id(session=session, ids={l.author_id for l in links})
    return [
        LinkPublic.of(link, source=ends[link.source_version_id], target=_target(link, ends, slugs),
                      author=authors[link.author_id].handle)
        for link in links
    ]


def _target(link: Link, ends: dict[int, ObservationEnd], slugs: dict[int, str]) -> LinkEnd:
    if link.target_version_id:
        return ends[link.target_version_id]
    if link.target_phenomenon_id:
        return PhenomenonEnd(slug=slugs[link.target_phenomenon_id])
    _, url = normalise_external(link.target_external)
    return ExternalEnd(ref=link.target_external, url=url)


def links_of(*, session: Session, observation: Observation) -> LinksOf:
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
    return LinksOf(outgoing=links_public(session=session, links=outgoing),
                   incoming=links_public(session=session, links=incoming))


def reproduction_counts(*, session: Session, observation: Observation) -> Reproductions:
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
    return Reproductions(reproduced_by=len(users[Relation.reproduces.value]),
                         failed_by=len(users[Relation.fails_to_reproduce.value]))


# --- what the pages list ------------------------------------------------------


def _newest(session: Session, links: Select, limit: int) -> list[LinkPublic]:
    """The newest `limit` of the links `links` selects, as the API shows them."""
    rows = session.exec(links.order_by(Link.id.desc()).limit(limit)).all()
    return links_public(session=session, links=list(rows))


def links_within_phenomenon(
    *, session: Session, phenomenon_id: int, limit: int
) -> list[LinkPublic]:
    """The newest links whose source and target are both filed under the phenomenon."""
    source = aliased(ObservationPhenomenon)
    target = aliased(ObservationPhenomenon)
    return _newest(session, select(Link)
                   .join(source, source.version_id == Link.source_version_id)
                   .join(target, target.version_id == Link.target_version_id)
                   .where(source.phenomenon_id == phenomenon_id,
                          target.phenomenon_id == phenomenon_id), limit)


def reproductions_by(*, session: Session, user: User, limit: int) -> list[LinkPublic]:
    """Links `reproduces` / `fails-to-reproduce` out of the user's own observations, newest first."""
    return _newest(session, select(Link)
                   .join(ObservationVersion, ObservationVersion.id == Link.source_version_id)
                   .join(Observation, Observation.id == ObservationVersion.observation_id)
                   .where(Observation.author_id == user.id,
                          Link.relation.in_(REPRODUCTION_RELATIONS)), limit)


def links_by(*, session: Session, user: User, limit: int) -> list[LinkPublic]:
    """The other links the user made (extends, explains, unifies, ...), newest first."""
    return _newest(session, select(Link).where(
        Link.author_id == user.id, Link.relation.not_in(REPRODUCTION_RELATIONS)), limit)


def group_by_relation(links: list[LinkPublic]) -> dict[str, list[LinkPublic]]:
    """Links grouped by relation, in the order of the relation vocabulary."""
    order = {relation.value: i for i, relation in enumerate(Relation)}
    grouped: dict[str, list[LinkPublic]] = {}
    for link in sorted(links, key=lambda l: order.get(l.relation, len(order))):
        grouped.setdefault(link.relation, []).append(link)
    return grouped
