"""Reading observations: ids (`T-42v2`), lookups, lists, stored series and re-run specs.

Functions take keyword-only arguments and raise `Problem` (404, 422) for a
reference or filter a person must fix.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from sqlalchemy import Integer, and_, bindparam, func, or_
from sqlalchemy.orm import load_only
from sqlmodel import Session, select

from runner.spec import (
    MAX_ID,
    BuiltinRecipe,
    Environment,
    ObservationSpec,
    RunKind,
    Series,
    SourceRecipe,
    SweepSpec,
    Verdict,
)
from server.errors import invalid, not_found
from server.models import (MetricSeries, Observation, ObservationPhenomenon, ObservationTag,
                           ObservationVersion, Phenomenon, Recipe, Run, User)

REF = re.compile(r"^\s*(?:T-?)?(\d+)(?:v(\d+))?\s*$", re.IGNORECASE)


def format_ref(number: int, version: int | None = None) -> str:
    return f"T-{number}" if version is None else f"T-{number}v{version}"


def parse_ref(ref: str) -> tuple[int, int | None]:
    """`42`, `T-42` or `T-42v2` -> (42, None | 2)."""
    match = REF.match(str(ref))
    if match is None:
        raise not_found(
            "Observation", f"{ref!r} is not an observation id; use 42, T-42 or T-42v2"
        )
    number, version = match.groups()
    if len(number) > 19 or int(number) > MAX_ID or (version and (len(version) > 19
                                                             or int(version) > MAX_ID)):
        raise not_found("Observation", f"there is no observation {ref.strip()[:40]}")
    return int(number), (int(version) if version else None)


def find_version(*, session: Session, ref: str) -> tuple[Observation, ObservationVersion]:
    """The observation and the version `ref` names (its latest when no version is given)."""
    number, version = parse_ref(ref)
    observation = session.get(Observation, number)
    if observation is None:
        raise not_found("Observation", f"there is no observation {format_ref(number)}")
    wanted = version or observation.latest_version
    row = session.exec(
        select(ObservationVersion).where(
            ObservationVersion.observation_id == number, ObservationVersion.version == wanted
        )
    ).first()
    if row is None:
        raise not_found(
            "Observation version",
            f"{format_ref(number)} has versions 1 to {observation.latest_version}, "
            f"not {wanted}",
        )
    return observation, row



def series_of(row: MetricSeries) -> Series:
    """A stored series as wire format (NaN back to null)."""
    y = row.ys()
    values = y.tolist()
    if not np.isfinite(y).all():
        values = [v if np.isfinite(v) else None for v in values]
    grid = {} if row.x2 is None else {"x2": row.x2s().tolist(), "axis2": row.axis2}
    return Series.model_construct(x=row.xs().tolist(), y=values, axis=row.axis, **grid)


def load_series(*, session: Session, run_ids: Iterable[int]) -> dict[int, dict[str, Series]]:
    """run id -> {name: series} for every given run, in one query."""
    ids = list(run_ids)
    result: dict[int, dict[str, Series]] = {i: {} for i in ids}
    if not ids:
        return result
    rows = session.exec(
        select(MetricSeries).where(MetricSeries.run_id.in_(ids)).order_by(MetricSeries.id)
    ).all()
    for row in rows:
        result[row.run_id][row.name] = series_of(row)
    return result


def load_series_arrays(*, session: Session, run_ids: Iterable[int]) -> dict[int, dict[str, dict]]:
    """run id -> {name: {"x": array, "y": array, "axis": ...}}, for serialising straight
    from the stored float64 arrays (orjson writes NaN as null), in one query."""
    ids = list(run_ids)
    result: dict[int, dict[str, dict]] = {i: {} for i in ids}
    if ids:
        rows = session.exec(
            select(MetricSeries).where(MetricSeries.run_id.in_(ids)).order_by(MetricSeries.id)
        ).all()
        for row in rows:
            result[row.run_id][row.name] = _series_arrays(row)
    return result


def _series_arrays(row) -> dict:
    arrays = {"x": np.frombuffer(row.x, dtype="<f8"), "y": np.frombuffer(row.y, dtype="<f8"),
              "axis": row.axis}
    if row.x2 is not None:
        arrays.update(x2=np.frombuffer(row.x2, dtype="<f8"), axis2=row.axis2)
    return arrays


# The author's series of the version a ref names (its latest when it names none), in one
# query, built once: GET /metrics is read far more often than anything is posted.
_AUTHOR_SERIES = (
    select(MetricSeries.name, MetricSeries.axis, MetricSeries.x, MetricSeries.y,
           MetricSeries.axis2, MetricSeries.x2)
    .select_from(Observation)
    .join(ObservationVersion, and_(
        ObservationVersion.observation_id == Observation.id,
        ObservationVersion.version == func.coalesce(bindparam("version", type_=Integer),
                                                    Observation.latest_version)))
    .join(Run, and_(Run.version_id == ObservationVersion.id,
                    Run.kind == RunKind.author.value))
    .join(MetricSeries, MetricSeries.run_id == Run.id)
    .where(Observation.id == bindparam("number"))
    .order_by(MetricSeries.id)
)


def author_series_arrays(*, session: Session, ref: str) -> dict[str, dict]:
    """{name: {"x": array, "y": array, "axis": ...}} of the author's run of the version
    `ref` names, as load_series_arrays gives them; 404 when there is no such version."""
    number, version = parse_ref(ref)
    rows = session.execute(_AUTHOR_SERIES, {"number": number, "version": version}).all()
    if not rows:  # no such version (find_version says what exists), or no series at all
        _, found = find_version(session=session, ref=ref)
        run = author_run(session=session, version=found)
        return load_series_arrays(session=session, run_ids=[run.id])[run.id]
    return {row.name: _series_arrays(row) for row in rows}


def author_run(*, session: Session, version: ObservationVersion) -> Run:
    return session.exec(
        select(Run).where(Run.version_id == version.id, Run.kind == RunKind.author.value)
    ).one()


def recipe_spec(*, session: Session, recipe_id: int) -> BuiltinRecipe | SourceRecipe:
    """A stored recipe as the wire gives it to whoever runs it."""
    recipe = session.get(Recipe, recipe_id)
    if recipe.builtin:
        return BuiltinRecipe(builtin=recipe.builtin)
    return SourceRecipe(source=recipe.source, entrypoint=recipe.entrypoint)


def spec_of(*, session: Session, version: ObservationVersion) -> ObservationSpec:
    """All that is needed to re-run a version and check its claims."""
    run = author_run(session=session, version=version)
    metrics = load_series(session=session, run_ids=[run.id])[run.id]
    return ObservationSpec.model_construct(
        recipe=recipe_spec(session=session, recipe_id=version.recipe_id),
        config=version.config,
        seed=version.seed,
        metrics=metrics,
        claims=version.claims,
        environment=Environment(**version.environment) if version.environment else None,
        sweep=SweepSpec.model_validate(version.sweep) if version.sweep else None,
    )


# What a list item shows of a version (records.summaries): a page of 50 loads only these,
# not the notes, config, claims, environment and comparisons it would parse and drop
# (on Postgres half the time of a list went to decoding those JSON columns).
SUMMARY_COLUMNS = (ObservationVersion.id, ObservationVersion.observation_id,
                   ObservationVersion.version, ObservationVersion.title,
                   ObservationVersion.tags, ObservationVersion.verdict,
                   ObservationVersion.pass_rates, ObservationVersion.created_at)


def list_observations(
    *,
    session: Session,
    phenomenon: str | None = None,
    tag: str | None = None,
    author: str | None = None,
    verdict: str | None = None,
    q: str | None = None,
    cursor: int | None = None,
    limit: int = 50,
    include_withdrawn: bool = False,
) -> tuple[list[tuple[Observation, ObservationVersion]], int | None]:
    """Latest versions, newest first; `cursor` is the last id of the previous page.

    The observation number a filter orders by is that filter's own column, so
    that the query walks the filter's index newest first and stops after one
    page, however many rows match (migration 0004; benchmarks/api.py).
    """
    query = select(Observation, ObservationVersion).join(
        ObservationVersion, ObservationVersion.id == Observation.latest_version_id
    ).options(load_only(*SUMMARY_COLUMNS))
    order = Observation.id
    if phenomenon:
        phenomenon_id = session.exec(
            select(Phenomenon.id).where(Phenomenon.slug == phenomenon)).first()
        query = query.join(
            ObservationPhenomenon, ObservationPhenomenon.version_id == ObservationVersion.id
        ).where(ObservationPhenomenon.phenomenon_id == phenomenon_id)
        order = ObservationPhenomenon.observation_id
    if tag:
        query = query.join(
            ObservationTag, ObservationTag.version_id == ObservationVersion.id
        ).where(ObservationTag.tag == tag)
        order = ObservationTag.observation_id
    if author:
        query = query.join(User, User.id == Observation.author_id).where(User.handle == author)
    if verdict:
        valid = {v.value for v in Verdict}
        if verdict not in valid:
            raise invalid(f"verdict: {verdict!r} is not one of {', '.join(sorted(valid))}")
        query = query.where(ObservationVersion.verdict == verdict)
        if not (phenomenon or tag):
            order = ObservationVersion.observation_id
    if q:
        # autoescape: '%' and '_' in the query are text, not wildcards.
        text = q.strip()
        query = query.where(
            or_(
                ObservationVersion.title.icontains(text, autoescape=True),
                ObservationVersion.notes.icontains(text, autoescape=True),
            )
        )
    if not include_withdrawn:
        query = query.where(Observation.withdrawn_at.is_(None))
    if cursor is not None:
        query = query.where(order < cursor)
    rows = session.exec(query.order_by(order.desc()).limit(limit + 1)).all()
    page = [(o, v) for o, v in rows[:limit]]
    next_cursor = page[-1][0].id if len(rows) > limit and page else None
    return page, next_cursor


def phenomena_of(*, session: Session, version_ids: list[int]) -> dict[int, list[str]]:
    """version id -> phenomenon slugs, in one query."""
    result: dict[int, list[str]] = defaultdict(list)
    if version_ids:
        rows = session.exec(
            select(ObservationPhenomenon.version_id, Phenomenon.slug)
            .join(Phenomenon, Phenomenon.id == ObservationPhenomenon.phenomenon_id)
            .where(ObservationPhenomenon.version_id.in_(version_ids))
        ).all()
        for version_id, slug in rows:
            result[version_id].append(slug)
    return result
