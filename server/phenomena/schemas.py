"""Phenomena as the API takes and gives them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.public import Record


class PhenomenonCreate(BaseModel):
    slug: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)


class PhenomenonPublic(Record):
    slug: str
    name: str
    description: str
    observations: int = 0
    verified: int = 0
