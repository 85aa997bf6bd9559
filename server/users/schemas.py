"""Accounts as the API takes and gives them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from runner.spec import Line
from server.public import Record

HANDLE_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,39}$"
ORCID_PATTERN = r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$"


class UserCreate(BaseModel):
    handle: str = Field(pattern=HANDLE_PATTERN, description="lower-case, 2-40 characters")
    display_name: Line = Field(default="", max_length=200)
    orcid: str | None = Field(default=None, pattern=ORCID_PATTERN)
    affiliation: Line | None = Field(default=None, max_length=200)


class UserPublic(Record):
    handle: str
    display_name: str
    orcid: str | None = None
    affiliation: str | None = None
    created_at: datetime


class UserCreated(Record):
    user: UserPublic
    token: str = Field(description="shown once; store it (e.g. export TYCHO_TOKEN=...)")


class Health(Record):
    status: Literal["ok"] = "ok"
    version: str
