"""A comparison of observations as the API gives it (GET /compare?ids=...)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runner.spec import Verdict
from server.observations.schemas import SeriesInfo
from server.public import Record
from server.users.schemas import UserPublic


class ComparedClaim(Record):
    claim: str
    pass_rate: float | None = Field(default=None, description="share of fresh seeds on which "
                                    "it held, once verified")
    holds: bool | None = Field(default=None, description="on the author's run, as measured "
                               "where it ran (null when not evaluated there)")
    detail: str = ""


class ComparedObservation(Record):
    id: str  # T-42
    ref: str  # T-42v2
    url: str
    title: str
    author: UserPublic
    phenomena: list[str]
    verdict: Verdict
    verdict_reason: str = ""
    seed: int
    config: dict[str, Any]
    claims: list[ComparedClaim]
    metrics: list[SeriesInfo]


class ConfigRow(Record):
    """One config key across the compared observations."""

    key: str
    values: list[Any] = Field(description="its value in each observation, in order "
                              "(null where absent: see `present`)")
    present: list[bool]
    differs: bool


class Comparison(Record):
    """Observations side by side: their configs key by key, their claims and verdicts, and
    the series they share (drawn overlaid on the page). No `ids`: an empty comparison."""

    ids: list[str] = Field(default_factory=list, description="the versions compared (T-42v2)")
    observations: list[ComparedObservation] = Field(default_factory=list)
    config: list[ConfigRow] = Field(default_factory=list)
    config_keys_left_out: int = Field(default=0, description="keys beyond the row limit")
    shared_series: list[str] = Field(default_factory=list,
                                     description="series that two or more of them have")
