"""A sweep run as the API takes and gives it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runner.spec import BuiltinRecipe, JsonObject, RunResult, SourceRecipe, SweepSpec
from server.models import JobStatus
from server.public import Record


class SweepRunCreate(BaseModel):
    """The body of `POST /sweeps`: what to run, cell by cell, on the workers."""

    model_config = ConfigDict(extra="forbid")

    recipe: BuiltinRecipe | SourceRecipe
    config: JsonObject = Field(default_factory=dict)
    sweep: SweepSpec


class CellState(Record):
    """One cell's job: its seeds and where it is."""

    cell: dict[str, float]
    seeds: list[int]
    status: JobStatus
    attempts: int
    failures: list[str] = Field(default_factory=list)


class SweepRunPublic(Record):
    id: int
    sweep: SweepSpec
    config: dict[str, Any]
    created_at: datetime
    total: int = Field(description="runs in all: cells x seeds")
    done: int = Field(description="runs finished (their results can be fetched)")
    failed_cells: int = Field(description="cells whose job gave up (after its attempts)")
    cells: list[CellState]


class SweepRunResults(Record):
    """Finished runs after `after` (a result id), oldest first, with their series."""

    runs: list[RunResult]
    last: int | None = Field(default=None, description="pass as ?after= for the next page")
