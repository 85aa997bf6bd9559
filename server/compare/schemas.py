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


class ConfigValue(Record):
    value: Any
    observations: list[str] = Field(description="the observations (T-42) with this value, "
                                     "at most 20")
    count: int = Field(description="how many observations have it")


class KeyDifference(Record):
    """A config key on which some observations differ: its values, most common first."""

    key: str
    values: list[ConfigValue] = Field(description="its distinct values, at most 8 (absent "
                                      "is a value, null with `absent`)")
    absent: list[str] = Field(default_factory=list, description="observations without it, "
                              "at most 20")
    more_values: int = Field(default=0, description="distinct values beyond those listed")
