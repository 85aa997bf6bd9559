"""A run as the API gives it on its own: GET /observations/{ref}/runs/{id}."""

from __future__ import annotations

from server.observations.schemas import RunSummary, SeriesInfo


class RunPublic(RunSummary):
    """One run of a version: what it ran (its seed, a sweep's cell), how, what it measured."""

    observation: str  # T-42v2, the version it is a run of
    title: str  # the version's title
    config: dict  # the version's config, and for a sweep's cell, with the cell's knobs set
    log_tail: str = ""
    metrics: list[SeriesInfo]
