"""Links, comments and the link graph as the API takes and gives them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from runner.spec import Relation


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


class GraphNode(BaseModel):
    """One node of a link neighbourhood: an observation version, a phenomenon or a paper."""

    id: str  # "T-3v1", "phenomenon:grokking", "arXiv:2201.02177", "doi:10...", or a URL
    kind: str  # observation | phenomenon | external
    distance: int  # links from the root observation
    url: str  # the page to read it on
    title: str = ""
    # Observation versions only.
    observation: str | None = None  # T-3
    author: str | None = None  # handle
    author_name: str | None = None
    verdict: str | None = None
    is_latest: bool | None = None
    newer_version: str | None = None
    withdrawn: bool | None = None
    # Phenomena only.
    slug: str | None = None


class GraphEdge(BaseModel):
    """A typed link: `source <relation> target`, by `author`."""

    id: int
    source: str
    relation: str
    target: str
    author: str
    note: str = ""
    created_at: datetime


class Graph(BaseModel):
    root: str  # the version asked about, e.g. T-3v2
    depth: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
