"""What a citation of an observation version (or a chain of them) says: keys, people,
dates, URLs, the verdict when cited, and the credit order of a chain.

How it is written down (BibTeX, CSL-JSON, CITATION.cff) is `server.citations.formats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel import Session, select

from server.community.graph import find_neighbourhood
from server.db import aware
from server.initial_data import CANONICAL_AUTHOR
from server.models import Observation, ObservationVersion, User
from server.observations.queries import format_ref, phenomena_of
from server.users.accounts import users_by_id

# Accounts that are organisations rather than people: the author of the built-in
# phenomena's canonical observations.
ORGANISATIONS = frozenset({CANONICAL_AUTHOR[0]})
KEY_PREFIX = "tycho:"
CHAIN_KEY_PREFIX = "tycho:chain:"


@dataclass(frozen=True)
class Person:
    """An author as citations need one: a name split for sorting, an optional ORCID."""

    handle: str
    name: str  # as shown: the display name, or the handle when there is none
    family: str
    given: str | None
    orcid: str | None  # bare, 0000-0002-1825-0097
    affiliation: str | None
    # An organisation, not a person: its name is one whole, never split into
    # family and given names (BibTeX braces it, CSL a literal, CFF an entity).
    organisation: bool = False

    @property
    def orcid_url(self) -> str | None:
        return f"https://orcid.org/{self.orcid}" if self.orcid else None


@dataclass(frozen=True)
class CitedWork:
    """One observation version as a citable work."""

    key: str  # tycho:T-42v2
    ref: str  # T-42v2
    title: str
    authors: tuple[Person, ...]
    issued: date  # when this version was published
    url: str
    version: int
    verdict: str
    phenomena: tuple[str, ...]
    withdrawn: bool

    def verdict_note(self, cited_on: date) -> str:
        note = (
            f"Tycho observation {self.ref}; verification verdict: {self.verdict} "
            f"(as of {cited_on.isoformat()})"
        )
        return note + ("; withdrawn from the registry" if self.withdrawn else "")


@dataclass(frozen=True)
class ChainCredit:
    """A chain of linked observations cited together, with its joint author list."""

    key: str  # tycho:chain:T-42v1
    root: CitedWork
    depth: int
    # Everyone who posted an observation in the chain or made a link in it,
    # once each, in order of their first contribution.
    contributors: tuple[Person, ...]
    first_contribution: dict[str, datetime]  # handle -> when
    # Linked works outside Tycho (arXiv, DOI, URL): named, not given entries.
    externals: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"Linked observations around {self.root.ref}: {self.root.title}"


@dataclass(frozen=True)
class Citation:
    """What `/cite` renders: the works (the cited one first) and, for a chain, its credit."""

    works: tuple[CitedWork, ...]
    cited_on: date
    chain: ChainCredit | None = None


def split_name(name: str) -> tuple[str | None, str]:
    """(given, family): "Family, Given" as written, else the last word is the family name."""
    if "," in name:
        family, given = (part.strip() for part in name.split(",", 1))
        if family:
            return given or None, family
    words = name.split()
    if len(words) < 2:
        return None, name.strip()
    return " ".join(words[:-1]), words[-1]


def person_of(user: User) -> Person:
    name = " ".join(user.display_name.split()) or user.handle
    organisation = user.handle in ORGANISATIONS
    given, family = (None, name) if organisation else split_name(name)
    return Person(
        handle=user.handle,
        name=name,
        family=family,
        given=given,
        orcid=user.orcid or None,
        affiliation=user.affiliation or None,
        organisation=organisation,
    )


def _day(moment: datetime) -> date:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def _works(
    *,
    session: Session,
    versions: list[ObservationVersion],
    public_url: str,
) -> dict[int, CitedWork]:
    """version id -> CitedWork, with three queries in all."""
    observations = {
        o.id: o
        for o in session.exec(
            select(Observation).where(
                Observation.id.in_({v.observation_id for v in versions})
            )
        ).all()
    }
    people = users_by_id(session=session, ids={o.author_id for o in observations.values()})
    slugs = phenomena_of(session=session, version_ids=[v.id for v in versions])
    base = public_url.rstrip("/")
    works = {}
    for version in versions:
        observation = observations[version.observation_id]
        ref = format_ref(observation.id, version.version)
        works[version.id] = CitedWork(
            key=KEY_PREFIX + ref,
            ref=ref,
            title=" ".join(version.title.split()),
            authors=(person_of(people[observation.author_id]),),
            issued=_day(version.created_at),
            url=f"{base}/{ref}",
            version=version.version,
            verdict=version.verdict,
            phenomena=tuple(slugs.get(version.id, [])),
            withdrawn=observation.withdrawn_at is not None,
        )
    return works


def cite_version(
    *, session: Session, version: ObservationVersion, public_url: str, cited_on: date
) -> Citation:
    """One version as a work (its author, its date, its verdict today)."""
    works = _works(session=session, versions=[version], public_url=public_url)
    return Citation(works=(works[version.id],), cited_on=cited_on)


def cite_chain(
    *,
    session: Session,
    version: ObservationVersion,
    depth: int,
    public_url: str,
    cited_on: date,
) -> Citation:
    """A version and every observation linked to it within `depth` links, with joint credit."""
    found = find_neighbourhood(session=session, root=version, depth=depth)
    versions = found.ordered_versions()
    works = _works(session=session, versions=versions, public_url=public_url)
    links = found.ordered_links()
    link_authors = users_by_id(session=session, ids={l.author_id for l in links})
    # Who contributed when: each version's author when it was posted, each
    # link's author when it was made. A person's place is their earliest.
    first: dict[str, datetime] = {}
    people: dict[str, Person] = {}
    events: list[tuple[datetime, Person]] = [
        (v.created_at, works[v.id].authors[0]) for v in versions
    ]
    events += [(l.created_at, person_of(link_authors[l.author_id])) for l in links]
    for moment, person in events:
        moment = aware(moment)
        if person.handle not in first or moment < first[person.handle]:
            first[person.handle] = moment
            people[person.handle] = person
    order = sorted(first, key=lambda handle: (first[handle], handle))
    externals = tuple(
        dict.fromkeys(l.target_external for l in links if l.target_external)
    )
    root = works[version.id]
    chain = ChainCredit(
        key=CHAIN_KEY_PREFIX + root.ref,
        root=root,
        depth=depth,
        contributors=tuple(people[h] for h in order),
        first_contribution={h: first[h] for h in order},
        externals=externals,
    )
    ordered = [root] + [works[v.id] for v in versions if v.id != version.id]
    return Citation(works=tuple(ordered), cited_on=cited_on, chain=chain)
