"""Observations as the API gives them (what it takes is runner.spec's ObservationCreate)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field

from runner.spec import (
    ClaimResult,
    ObservationCreate,
    RunKind,
    RunStatus,
    Series,
    SeriesComparison,
    SweepSpec,
    Text,
    Verdict,
)
from server.community.schemas import CommentPublic, LinksOf, Reproductions
from server.public import Record
from server.users.schemas import UserPublic
from server.verification.schemas import VerificationStatus


class RecipePublic(Record):
    kind: Literal["builtin", "source"]
    builtin: str | None = None
    sha256: str
    entrypoint: str


class VersionInfo(Record):
    id: str  # T-42v2
    version: int
    created_at: datetime
    change_message: str
    verdict: Verdict
    is_latest: bool = False  # the version `/observations/T-42` shows


class SeriesInfo(Record):
    name: str
    axis: str
    n_points: int
    axis2: str | None = Field(default=None, description="a grid series' second knob")


class RunSummary(Record):
    """One run of a version: the author's, a worker's re-run of a seed, or a reproduction."""

    id: int
    kind: RunKind
    seed: int
    status: RunStatus
    worker_id: str | None = None
    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    peak_memory_mb: float | None = None
    network_isolated: bool | None = None
    error: str | None = None
    environment: dict[str, Any] | None = None
    # Each claim evaluated on this run (stored as the run's `claim_results`).
    claims: list[ClaimResult] = Field(default_factory=list,
                                      validation_alias=AliasChoices("claims", "claim_results"))
    cell: dict[str, float] | None = Field(default=None, description="a sweep cell's knobs")
    created_at: datetime


class ObservationSummary(Record):
    id: str  # T-42
    ref: str  # T-42v2, the version shown
    url: str = Field(description="its web page, under the registry's public address "
                     "(TYCHO_PUBLIC_URL, or tycho serve's --public-url/--host/--port)")
    number: int
    version: int
    latest_version: int
    title: str
    author: UserPublic
    created_at: datetime
    phenomena: list[str]
    tags: list[str]
    verdict: Verdict
    pass_rates: dict[str, float] = Field(default_factory=dict)
    withdrawn: bool = False
    # A published version never changes; a reader of an older one is told of the newest.
    is_latest: bool = True
    newer_version: str | None = Field(
        default=None, description="the latest version (T-42v3) when this one is not it"
    )


class ObservationPublic(ObservationSummary):
    notes: str
    notes_html: str = Field(default="", description="the notes as sanitised HTML, rendered "
                            "when they were written")
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
    # Series drawn together in one panel; a sweep's grid, seeds and measures.
    groups: list[list[str]] = Field(default_factory=list)
    sweep: SweepSpec | None = None
    versions: list[VersionInfo]
    runs: list[RunSummary]
    verification: VerificationStatus | None = None
    reproductions: Reproductions = Field(default_factory=Reproductions)
    links: LinksOf = Field(default_factory=LinksOf)
    rerun: str = ""
    # The thread, replies nested (also GET /observations/{ref}/comments).
    comments: list[CommentPublic] = Field(default_factory=list)
    withdrawn_reason: str | None = Field(default=None, description="why it was withdrawn, "
                                         "and by whom")


class ObservationPage(Record):
    items: list[ObservationSummary]
    next_cursor: str | None = None


class RunMetrics(BaseModel):
    id: int
    kind: RunKind
    seed: int
    status: RunStatus
    cell: dict[str, float] | None = None
    metrics: dict[str, Series]


class AllRunsMetrics(BaseModel):
    """`/metrics?runs=true`: every run's series."""

    runs: list[RunMetrics]


# `/metrics`: the author's series by name, or (runs=true) every run's.
Metrics = dict[str, Series] | AllRunsMetrics


class VersionCreate(ObservationCreate):
    change_message: Text = Field(min_length=1, max_length=2000, description="what changed")


class WithdrawRequest(BaseModel):
    reason: Text = Field(min_length=1, max_length=2000)
