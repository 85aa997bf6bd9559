"""Verification is shared between versions that would re-run exactly the same thing.

Two versions with the same recipe, config, seed and claims re-run the same
seeds to the same verdict: a reproduction posted with `tycho rerun --post` is
such a twin of the observation it reproduces. The queue runs one job for all
of them. A twin posted while a job is queued or running waits for it; one
posted after it is done gets its verdict at once; when a job completes, every
twin without a job of its own gets the verdict, its reason naming the version
that was run. The comparisons (series against the submitted ones) stay with
the version whose series were compared.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import load_only
from sqlmodel import Session

from runner.spec import Verdict
from server.models import JobStatus, ObservationVersion, VerificationJob


def _twins(*, session: Session, version: ObservationVersion) -> list[ObservationVersion]:
    """Other versions with the same recipe, config, seed, claims and sweep."""
    # Only what is compared: every version with the recipe and seed is read, and the
    # notes, environment and comparisons of each would be decoded for nothing.
    candidates = session.execute(
        select(ObservationVersion).where(ObservationVersion.recipe_id == version.recipe_id,
                                         ObservationVersion.seed == version.seed,
                                         ObservationVersion.id != version.id)
        .options(load_only(ObservationVersion.id, ObservationVersion.observation_id,
                           ObservationVersion.version, ObservationVersion.config,
                           ObservationVersion.claims, ObservationVersion.sweep))
    ).scalars().all()
    return [other for other in candidates
            if other.config == version.config and other.claims == version.claims
            and other.sweep == version.sweep]


def _ref(version: ObservationVersion) -> str:
    return f"T-{version.observation_id}v{version.version}"


def job_to_share(*, session: Session, version: ObservationVersion,
                 seeds: list[int]) -> VerificationJob | None:
    """The latest queued, running or done job of a twin on the same seeds, if any."""
    twins = {twin.id: twin for twin in _twins(session=session, version=version)}
    if not twins:
        return None
    open_or_done = [JobStatus.queued.value, JobStatus.running.value, JobStatus.done.value]
    jobs = session.execute(
        select(VerificationJob)
        .where(VerificationJob.version_id.in_(twins), VerificationJob.status.in_(open_or_done))
        .order_by(VerificationJob.id.desc())
    ).scalars().all()
    return next((job for job in jobs if job.seeds == seeds), None)


def share(*, session: Session, job: VerificationJob, version: ObservationVersion) -> None:
    """Give `version` the job's verdict, or say that it waits for it."""
    source = session.get(ObservationVersion, job.version_id)
    if job.status == JobStatus.done.value:
        _copy_verdict(source=source, target=version)
    else:
        version.verdict_reason = (
            f"verified together with {_ref(source)} (the same recipe, config, seed and claims); "
            "its verdict will be this one's")
    session.add(version)


def share_with_twins(*, session: Session, version: ObservationVersion) -> None:
    """After `version`'s job is done: its unverified twins without a job get its verdict."""
    for twin in _twins(session=session, version=version):
        has_job = session.execute(
            select(VerificationJob.id).where(VerificationJob.version_id == twin.id).limit(1)
        ).first()
        if twin.verdict == Verdict.unverified.value and has_job is None:
            _copy_verdict(source=version, target=twin)
            session.add(twin)


def _copy_verdict(*, source: ObservationVersion, target: ObservationVersion) -> None:
    target.verdict = source.verdict
    target.verdict_reason = f"verified with {_ref(source)}: {source.verdict_reason}"
    target.verdict_at = source.verdict_at
    target.pass_rates = dict(source.pass_rates)
