"""Observation records as the API returns them (the web pages render the same data)."""

from __future__ import annotations

from sqlmodel import Session, select

from runner.spec import SeriesComparison
from server.community.links import links_of, reproduction_counts
from server.models import (
    MetricSeries,
    Observation,
    ObservationVersion,
    Recipe,
    Run,
    User,
)
from server.observations.queries import format_ref, phenomena_of
from server.observations.schemas import (
    ObservationPublic,
    ObservationSummary,
    RecipePublic,
    RunSummary,
    SeriesInfo,
    VersionInfo,
)
from server.users.accounts import user_public, users_by_id
from server.verification.queue import verification_status


def summaries(
    *, session: Session, rows: list[tuple[Observation, ObservationVersion]]
) -> list[ObservationSummary]:
    """List items for many observations with two extra queries in all."""
    slugs = phenomena_of(session=session, version_ids=[v.id for _, v in rows])
    authors = users_by_id(session=session, ids=[o.author_id for o, _ in rows])
    return [
        _summary(observation, version, authors[observation.author_id], slugs.get(version.id, []))
        for observation, version in rows
    ]


def _summary(
    observation: Observation, version: ObservationVersion, author: User, slugs: list[str]
) -> ObservationSummary:
    return ObservationSummary(
        id=format_ref(observation.id),
        ref=format_ref(observation.id, version.version),
        number=observation.id,
        version=version.version,
        latest_version=observation.latest_version,
        title=version.title,
        author=user_public(author),
        created_at=version.created_at,
        phenomena=slugs,
        tags=version.tags,
        verdict=version.verdict,
        pass_rates=version.pass_rates,
        withdrawn=observation.withdrawn_at is not None,
        is_latest=version.version == observation.latest_version,
        newer_version=newer_version(observation, version),
    )


def newer_version(observation: Observation, version: ObservationVersion) -> str | None:
    """The latest version's id when `version` is an older one, else None."""
    if version.version == observation.latest_version:
        return None
    return format_ref(observation.id, observation.latest_version)


def observation_public(
    *, session: Session, observation: Observation, version: ObservationVersion
) -> ObservationPublic:
    """The whole record of one version: content, verification, runs, versions."""
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
    author_run = next(r for r in runs if r.kind == "author")
    series = session.exec(
        select(MetricSeries.name, MetricSeries.axis, MetricSeries.n_points)
        .where(MetricSeries.run_id == author_run.id)
        .order_by(MetricSeries.id)
    ).all()
    summary = _summary(observation, version, author, slugs)
    return ObservationPublic(
        **summary.model_dump(),
        notes=version.notes,
        recipe=RecipePublic(
            kind="builtin" if recipe.builtin else "source",
            builtin=recipe.builtin,
            sha256=recipe.sha256,
            entrypoint=recipe.entrypoint,
        ),
        config=version.config,
        seed=version.seed,
        claims=version.claims,
        environment=version.environment,
        change_message=version.change_message,
        verdict_reason=version.verdict_reason,
        verdict_at=version.verdict_at,
        comparisons=[SeriesComparison(**c) for c in version.comparisons],
        metrics=[SeriesInfo(name=n, axis=a, n_points=p) for n, a, p in series],
        versions=[
            VersionInfo(
                id=format_ref(observation.id, v.version),
                version=v.version,
                created_at=v.created_at,
                change_message=v.change_message,
                verdict=v.verdict,
                is_latest=v.version == observation.latest_version,
            )
            for v in versions
        ],
        runs=[
            RunSummary(
                id=r.id,
                kind=r.kind,
                seed=r.seed,
                status=r.status,
                worker_id=r.worker_id,
                wall_time_s=r.wall_time_s,
                cpu_time_s=r.cpu_time_s,
                peak_memory_mb=r.peak_memory_mb,
                network_isolated=r.network_isolated,
                error=r.error,
                environment=r.environment,
                claims=r.claim_results,
                created_at=r.created_at,
            )
            for r in runs
        ],
        rerun=f"tycho rerun {format_ref(observation.id, version.version)}",
    )


def observation_record(
    *, session: Session, observation: Observation, version: ObservationVersion
) -> ObservationPublic:
    """The API record of a version with its verification status, links and reproductions;
    the observation page renders exactly this."""
    record = observation_public(session=session, observation=observation, version=version)
    record.verification = verification_status(session=session, version=version)
    record.links = links_of(session=session, observation=observation)
    record.reproductions = reproduction_counts(session=session, observation=observation)
    return record
