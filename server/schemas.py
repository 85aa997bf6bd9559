"""API request and response shapes (the wire spec itself is runner.spec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from runner.spec import ObservationCreate, SeriesComparison

HANDLE_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,39}$"
ORCID_PATTERN = r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$"


class UserCreate(BaseModel):
    handle: str = Field(pattern=HANDLE_PATTERN, description="lower-case, 2-40 characters")
    display_name: str = Field(default="", max_length=200)
    orcid: str | None = Field(default=None, pattern=ORCID_PATTERN)
    affiliation: str | None = Field(default=None, max_length=200)


class UserPublic(BaseModel):
    handle: str
    display_name: str
    orcid: str | None = None
    affiliation: str | None = None
    created_at: datetime


class UserCreated(BaseModel):
    user: UserPublic
    token: str = Field(description="shown once; store it (e.g. export TYCHO_TOKEN=...)")


class PhenomenonCreate(BaseModel):
    slug: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)


class PhenomenonPublic(BaseModel):
    slug: str
    name: str
    description: str
    observations: int = 0
    verified: int = 0


class RecipePublic(BaseModel):
    kind: str  # builtin | source
    builtin: str | None = None
    sha256: str
    entrypoint: str


class VersionInfo(BaseModel):
    id: str  # T-42v2
    version: int
    created_at: datetime
    change_message: str
    verdict: str
    is_latest: bool = False  # the version `/observations/T-42` shows


class SeriesInfo(BaseModel):
    name: str
    axis: str
    n_points: int


class RunSummary(BaseModel):
    id: int
    kind: str
    seed: int
    status: str
    worker_id: str | None = None
    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    peak_memory_mb: float | None = None
    network_isolated: bool | None = None
    error: str | None = None
    environment: dict[str, Any] | None = None
    claims: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime


class ObservationSummary(BaseModel):
    id: str  # T-42
    ref: str  # T-42v2, the version shown
    number: int
    version: int
    latest_version: int
    title: str
    author: UserPublic
    created_at: datetime
    phenomena: list[str]
    tags: list[str]
    verdict: str
    pass_rates: dict[str, float] = Field(default_factory=dict)
    withdrawn: bool = False
    # A published version never changes; a reader of an older one is told of the newest.
    is_latest: bool = True
    newer_version: str | None = Field(
        default=None, description="the latest version (T-42v3) when this one is not it"
    )


class ObservationPublic(ObservationSummary):
    notes: str
    recipe: RecipePublic
    config: dict[str, Any]
    seed: int
    claims: list[str]
    environment: dict[str, Any] | None = None
    change_message: str = ""
    verdict_reason: str = ""
    verdict_at: datetime | None = None
    comparisons: list[SeriesComparison] = Field(default_factory=list)
    metrics: list[SeriesInfo]
    versions: list[VersionInfo]
    runs: list[RunSummary]
    verification: dict[str, Any] | None = None
    reproductions: dict[str, int] = Field(default_factory=dict)
    links: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    rerun: str = ""


class ObservationPage(BaseModel):
    items: list[ObservationSummary]
    next_cursor: str | None = None


class VersionCreate(ObservationCreate):
    change_message: str = Field(min_length=1, max_length=2000, description="what changed")


class WithdrawRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


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
