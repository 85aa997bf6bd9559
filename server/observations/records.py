"""Observation records as the API returns them; the observation page renders the same record."""

from __future__ import annotations

from sqlmodel import Session, select

from runner.spec import RunKind
from server.community.comments import comment_thread
from server.community.links import links_of, reproduction_counts
from server.models import (
    MetricSeries,
    Observation,
    ObservationVersion,
    Recipe,
    Run,
    User,
)
from server.observations.queries import format_ref, list_observations, phenomena_of
from server.observations.schemas import (
    ObservationPage,
    ObservationPublic,
    ObservationSummary,
    RecipePublic,
    RunSummary,
    SeriesInfo,
    VersionInfo,
)
from server.users.accounts import users_by_id
from server.verification.status import verification_status


def summaries(
    *, session: Session, rows: list[tuple[Observation, ObservationVersion]], public_url: str = ""
) -> list[ObservationSummary]:
    """List items for many observations with two extra queries in all (each item's `url`
    under `public_url`, the registry's public address; a path on this site without it)."""
    slugs = phenomena_of(session=session, version_ids=[v.id for _, v in rows])
    authors = users_by_id(session=session, ids=[o.author_id for o, _ in rows])
    return [
        ObservationSummary.of(version, **_summary_fields(
            observation, version, authors[observation.author_id], slugs.get(version.id, []),
            public_url))
        for observation, version in rows
    ]


def observation_page(*, session: Session, cursor: int | None = None, limit: int = 50,
                     public_url: str = "", **filters: str | None) -> ObservationPage:
    """A page of the latest versions, newest first, filtered (see list_observations)."""
    rows, next_cursor = list_observations(session=session, cursor=cursor, limit=limit, **filters)
    return ObservationPage(items=summaries(session=session, rows=rows, public_url=public_url),
                           next_cursor=str(next_cursor) if next_cursor else None)


def _summary_fields(
    observation: Observation, version: ObservationVersion, author: User, slugs: list[str],
    public_url: str,
) -> dict:
    """What a summary says beyond the version's own columns."""
    number, latest = observation.id, observation.latest_version
    ref = format_ref(number, version.version)
    return dict(
        id=format_ref(number),
        ref=ref,
        url=f"{public_url.rstrip('/')}/{ref}",
        number=number,
        latest_version=latest,
        author=author,
        phenomena=slugs,
        withdrawn=observation.withdrawn_at is not None,
        is_latest=version.version == latest,
        newer_version=None if version.version == latest else format_ref(number, latest),
    )


def observation_record(
    *, session: Session, observation: Observation, version: ObservationVersion,
    public_url: str = "", verification: bool = True,
) -> ObservationPublic:
    """The whole record of one version: content, runs, versions, verification, links,
    reproductions and comments. GET /api/v1/observations/{ref} answers it (as stored by
    server.observations.stored); the observation page shows it. `verification=False`
    leaves out the verification status, which changes with every other job."""
    author = session.get(User, observation.author_id)
    slugs = phenomena_of(session=session, version_ids=[version.id]).get(version.id, [])
    recipe = session.get(Recipe, version.recipe_id)
    versions = session.exec(
        select(ObservationVersion)
        .where(ObservationVersion.observation_id == observation.id)
        .order_by(ObservationVersion.version)
    ).all()
    runs = session.exec(
        select(Run).where(Run.version_id == version.id).order_by(Run.id)
    ).all()
    author_run = next(r for r in runs if r.kind == RunKind.author.value)
    series = session.exec(
        select(MetricSeries.name, MetricSeries.axis, MetricSeries.n_points, MetricSeries.axis2)
        .where(MetricSeries.run_id == author_run.id)
        .order_by(MetricSeries.id)
    ).all()
    ref = format_ref(observation.id, version.version)
    return ObservationPublic.of(
        version,
        **_summary_fields(observation, version, author, slugs, public_url),
        recipe=RecipePublic.of(recipe, kind="builtin" if recipe.builtin else "source"),
        metrics=[SeriesInfo.of(row) for row in series],
        versions=[
            VersionInfo.of(v, id=format_ref(observation.id, v.version),
                           is_latest=v.version == observation.latest_version)
            for v in versions
        ],
        runs=[RunSummary.of(run) for run in runs],
        verification=(verification_status(session=session, version=version)
                      if verification else None),
        links=links_of(session=session, observation=observation),
        reproductions=reproduction_counts(session=session, observation=observation),
        rerun=f"tycho rerun {ref}",
        comments=comment_thread(session=session, observation=observation),
        withdrawn_reason=observation.withdrawn_reason if observation.withdrawn_at else None,
    )
