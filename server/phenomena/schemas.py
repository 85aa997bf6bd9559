"""Phenomena as the API takes and gives them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from runner.spec import Line, Text
from server.community.schemas import LinkPublic
from server.compare.schemas import KeyDifference
from server.observations.schemas import ObservationSummary
from server.public import Record


class PhenomenonCreate(BaseModel):
    slug: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)
    name: Line = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=20_000)


class PhenomenonPublic(Record):
    slug: str
    name: str
    description: str
    description_html: str = Field(default="", description="the description as sanitised HTML")
    observations: int = 0
    verified: int = 0



class PhenomenonDetail(PhenomenonPublic):
    """What a phenomenon's page shows: the phenomenon, a page of its observations (newest
    first, as GET /observations?phenomenon=SLUG lists them) and the newest links among them."""

    items: list[ObservationSummary] = Field(default_factory=list)
    next_cursor: str | None = Field(default=None, description="pass it as ?cursor= for the "
                                    "next page of items")
    links: list[LinkPublic] = Field(default_factory=list)
    config_differences: list[KeyDifference] = Field(
        default_factory=list, description="the config keys on which this page's items differ "
        "(at most 50), each with its values and who has them")


class Overview(Record):
    """What the home page shows: every phenomenon with its counts, and the newest observations."""

    phenomena: list[PhenomenonPublic]
    latest: list[ObservationSummary]
