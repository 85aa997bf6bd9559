"""Links, comments and the link graph as the API takes and gives them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from runner.spec import FiniteNumber, Id, Line, Relation, Text, Verdict
from server.public import Record

# --- what the API takes -----------------------------------------------------------


class LinkCreate(BaseModel):
    """`this observation <relation> target`; name exactly one kind of target."""

    relation: Relation
    target: Line | None = Field(default=None, description="an observation: T-7 or T-7v2")
    targets: list[Line] = Field(default_factory=list, description="several (for `unifies`)")
    phenomenon: Line | None = Field(default=None, description="a phenomenon slug")
    external: Line | None = Field(default=None, description="arXiv id, DOI or URL")
    note: Text = Field(default="", max_length=5000)


class CommentCreate(BaseModel):
    body: Text = Field(min_length=1)
    parent: Id | None = None
    # Optional anchor on a curve of the version commented on.
    series: Line | None = None
    x: FiniteNumber | None = None


class CommentEdit(BaseModel):
    body: Text = Field(min_length=1)


# --- links ------------------------------------------------------------------------


class ObservationEnd(Record):
    """An observation version at one end of a link."""

    kind: Literal["observation"] = "observation"
    id: str  # T-7v2
    title: str


class PhenomenonEnd(Record):
    kind: Literal["phenomenon"] = "phenomenon"
    slug: str


class ExternalEnd(Record):
    """A work outside Tycho: its canonical reference (arXiv:..., doi:..., a URL) and URL."""

    kind: Literal["external"] = "external"
    ref: str
    url: str


LinkEnd = Annotated[ObservationEnd | PhenomenonEnd | ExternalEnd, Field(discriminator="kind")]


class LinkPublic(Record):
    """`source <relation> target`, by `author` (a handle)."""

    id: int
    source: ObservationEnd
    relation: Relation
    target: LinkEnd
    note: str
    note_html: str = Field(default="", description="the note as sanitised HTML")
    author: str
    created_at: datetime


class LinksOf(Record):
    """The links out of any version of an observation, and into any of them."""

    outgoing: list[LinkPublic] = Field(default_factory=list)
    incoming: list[LinkPublic] = Field(default_factory=list)


class Reproductions(Record):
    """Distinct users other than the author whose observation reproduces (fails to) it."""

    reproduced_by: int = 0
    failed_by: int = 0


# --- comments ---------------------------------------------------------------------


class CommentPublic(Record):
    """A comment with its replies; a deleted one keeps its place with no author or body."""

    id: int
    observation: str  # the version it was made on, T-7v2
    author: str | None
    body: str
    body_html: str = Field(default="", description="the body as sanitised HTML, rendered "
                           "when it was written")
    deleted: bool
    parent: int | None = None
    # The point on a curve it is about, if any.
    series: str | None = None
    x: float | None = None
    created_at: datetime
    edited_at: datetime | None = None
    replies: list[CommentPublic] = Field(default_factory=list)


class UserComment(Record):
    """A comment as a user's page lists it: on which version, and that observation's title."""

    id: int
    observation: str  # T-7v2
    title: str
    body: str
    body_html: str = ""
    created_at: datetime


class CommentRevisionPublic(Record):
    """An earlier body of an edited comment."""

    body: str
    created_at: datetime
    author: str


# --- the link graph ---------------------------------------------------------------


class GraphNode(Record):
    """One node of a link neighbourhood: an observation version, a phenomenon or a paper."""

    id: str  # "T-3v1", "phenomenon:grokking", "arXiv:2201.02177", "doi:10...", or a URL
    kind: Literal["observation", "phenomenon", "external"]
    distance: int  # links from the root observation
    url: str  # the page to read it on
    title: str = ""
    # Observation versions only.
    observation: str | None = None  # T-3
    author: str | None = None  # handle
    author_name: str | None = None
    verdict: Verdict | None = None
    is_latest: bool | None = None
    newer_version: str | None = None
    withdrawn: bool | None = None
    # Phenomena only.
    slug: str | None = None


class GraphEdge(Record):
    """A typed link: `source <relation> target`, by `author`."""

    id: int
    source: str
    relation: Relation
    target: str
    author: str
    note: str = ""
    created_at: datetime


class Graph(Record):
    root: str  # the version asked about, e.g. T-3v2
    depth: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
