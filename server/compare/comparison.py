"""Comparing 2 to 8 observation versions: their configs key by key, their claims with each
one's verdict, and the series they share, overlaid (the author's run of each)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlmodel import Session, select

from runner.spec import RunKind
from server.compare.schemas import (
    ComparedClaim,
    ComparedObservation,
    Comparison,
    ConfigRow,
    ConfigValue,
    KeyDifference,
)
from server.errors import invalid
from server.models import MetricSeries, Observation, ObservationVersion, Run, User
from server.observations.queries import find_version, format_ref, phenomena_of
from server.observations.schemas import SeriesInfo
from server.web.plots import SERIES_COLOURS, Panel, RunStyle, overlay_panels

MIN_COMPARED = 2
MAX_COMPARED = 8
# Config keys shown; the rest are counted (configs are small, but nothing bounds them).
MAX_CONFIG_ROWS = 200
# Characters of `ids` read at most: 8 refs and their commas fit many times over.
MAX_IDS_CHARS = 400


def parse_ids(values: list[str] | None) -> list[str]:
    """The refs of `?ids=T-1,T-9` (or `?ids=T-1&ids=T-9`, as a form of checkboxes sends),
    blanks dropped; 2 to 8 of them, else a message that says how to ask."""
    text = ",".join(values or [])
    if len(text) > MAX_IDS_CHARS:
        raise invalid(f"ids is {len(text)} characters long; name {MIN_COMPARED} to "
                      f"{MAX_COMPARED} observations, e.g. ids=T-1,T-9v2")
    refs = [part.strip() for part in text.split(",") if part.strip()]
    if not MIN_COMPARED <= len(refs) <= MAX_COMPARED:
        raise invalid(f"compare {MIN_COMPARED} to {MAX_COMPARED} observations; ids names "
                      f"{len(refs)}. Separate them with commas: ids=T-1,T-9v2")
    return refs


def compare(*, session: Session, refs: list[str], public_url: str = "") -> tuple[
        Comparison, list[Run]]:
    """The comparison of the versions `refs` name (T-1 is its latest version), and the
    author's run of each, in the same order."""
    found: list[tuple[Observation, ObservationVersion]] = []
    for ref in refs:
        observation, version = find_version(session=session, ref=ref)
        shown = format_ref(observation.id, version.version)
        if any(v.id == version.id for _, v in found):
            raise invalid(f"{ref} names {shown} a second time; compare different versions")
        found.append((observation, version))
    versions = [v for _, v in found]
    runs: dict[int, Run] = {}
    for run in session.exec(select(Run).where(Run.version_id.in_([v.id for v in versions]),
                                              Run.kind == RunKind.author.value)
                            .order_by(Run.id)):
        if run.cell is None:  # a sweep's runs of its cells are not its measures
            runs.setdefault(run.version_id, run)
    author_runs = [runs[v.id] for v in versions]
    series = _series_of(session=session, run_ids=[r.id for r in author_runs])
    slugs = phenomena_of(session=session, version_ids=[v.id for v in versions])
    authors = {u.id: u for u in session.exec(
        select(User).where(User.id.in_({o.author_id for o, _ in found})))}
    observations = [
        _compared(observation, version, run, authors[observation.author_id],
                  slugs.get(version.id, []), series[run.id], public_url)
        for (observation, version), run in zip(found, author_runs)
    ]
    rows, left_out = config_rows([v.config for v in versions])
    counts: dict[str, int] = {}
    for run in author_runs:
        for info in series[run.id]:
            counts[info.name] = counts.get(info.name, 0) + 1
    return Comparison(ids=[o.ref for o in observations], observations=observations,
                      config=rows, config_keys_left_out=left_out,
                      shared_series=[name for name, n in counts.items() if n >= 2]), author_runs


def _series_of(*, session: Session, run_ids: list[int]) -> dict[int, list[SeriesInfo]]:
    found: dict[int, list[SeriesInfo]] = {i: [] for i in run_ids}
    for row in session.exec(
            select(MetricSeries.run_id, MetricSeries.name, MetricSeries.axis,
                   MetricSeries.n_points)
            .where(MetricSeries.run_id.in_(run_ids)).order_by(MetricSeries.id)):
        found[row.run_id].append(SeriesInfo.of(row))
    return found


def _compared(observation: Observation, version: ObservationVersion, run: Run, author: User,
              slugs: list[str], series: list[SeriesInfo], public_url: str,
              ) -> ComparedObservation:
    ref = format_ref(observation.id, version.version)
    measured = {c["claim"]: c for c in run.claim_results}
    return ComparedObservation.of(
        version, id=format_ref(observation.id), ref=ref, url=f"{public_url.rstrip('/')}/{ref}",
        author=author, phenomena=slugs, metrics=series,
        claims=[ComparedClaim(claim=claim, pass_rate=version.pass_rates.get(claim),
                              holds=measured.get(claim, {}).get("holds"),
                              detail=measured.get(claim, {}).get("detail", ""))
                for claim in version.claims])


_ABSENT = object()


def config_rows(configs: list[dict[str, Any]], limit: int = MAX_CONFIG_ROWS) -> tuple[
        list[ConfigRow], int]:
    """A row per config key of any of `configs`: the keys whose values differ first, then
    the equal ones, each part sorted by key; at most `limit`, and how many were left out."""
    keys = sorted(set().union(*configs)) if configs else []
    rows = []
    for key in keys:
        values = [config.get(key, _ABSENT) for config in configs]
        differs = any(value != values[0] or type(value) is not type(values[0])
                      for value in values)
        rows.append(ConfigRow(key=key, values=[None if v is _ABSENT else v for v in values],
                              present=[v is not _ABSENT for v in values], differs=differs))
    rows.sort(key=lambda row: not row.differs)  # stable: keys stay sorted within each part
    return rows[:limit], max(0, len(rows) - limit)


# A key's values listed, and the observations named with each value, at most.
MAX_KEY_VALUES = 8
MAX_NAMED = 20
# Keys listed where many observations are compared at once (a phenomenon's page).
MAX_KEYS = 50


def key_differences(configs: dict[str, dict[str, Any]], limit: int = MAX_KEYS) -> list[
        KeyDifference]:
    """The config keys on which the observations (`ref -> config`) differ, sorted by key: each
    with its distinct values, the most common first, and who has each."""
    keys = sorted(set().union(*configs.values())) if configs else []
    differences = []
    for key in keys:
        groups: dict[str, tuple[Any, list[str]]] = {}
        absent = []
        for ref, config in configs.items():
            if key not in config:
                absent.append(ref)
                continue
            # JSON text as the identity of a value (1 and 1.0 alike, dicts by content).
            identity = orjson.dumps(config[key], option=orjson.OPT_SORT_KEYS).decode()
            groups.setdefault(identity, (config[key], []))[1].append(ref)
        if len(groups) + bool(absent) < 2:
            continue
        ranked = sorted(groups.values(), key=lambda group: -len(group[1]))
        differences.append(KeyDifference(
            key=key, absent=absent[:MAX_NAMED], more_values=max(0, len(ranked) - MAX_KEY_VALUES),
            values=[ConfigValue(value=value, observations=refs[:MAX_NAMED], count=len(refs))
                    for value, refs in ranked[:MAX_KEY_VALUES]]))
        if len(differences) == limit:
            break
    return differences


def comparison_panels(*, session: Session, comparison: Comparison,
                      author_runs: list[Run]) -> list[Panel]:
    """A panel per shared series: each observation's author run in its colour, by ref."""
    styles = [RunStyle(run.id, observation.ref, SERIES_COLOURS[i % len(SERIES_COLOURS)], 2.0)
              for i, (observation, run) in enumerate(zip(comparison.observations, author_runs))]
    return overlay_panels(session=session, styles=styles, names=comparison.shared_series)
