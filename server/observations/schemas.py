"""Observations as the API gives them (what it takes is runner.spec's ObservationCreate)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from runner.spec import ObservationCreate, SeriesComparison
from server.users.schemas import UserPublic


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
