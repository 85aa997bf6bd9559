"""Where a version's verification is: its place in the queue, each seed's progress, and
an estimate of the time until its verdict (what the API record and the page show)."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import Session

from runner.spec import JobProgress
from server.db import aware
from server.models import JobStatus, ObservationVersion, VerificationJob, utcnow
from server.verification.schemas import VerificationStatus

# Finished jobs whose durations give the typical one, for a queued job's estimate.
RECENT_JOBS = 20


# Built once: a record is read far more often than written, and building a statement
# costs more than running it on SQLite (issue 10, GET record against its floor).
_LATEST_JOB = (
    select(VerificationJob)
    .where(VerificationJob.version_id == bindparam("version_id"))
    .order_by(VerificationJob.id.desc())
    .limit(1)
)
_READY = (VerificationJob.status == JobStatus.queued.value,
          or_(VerificationJob.not_before.is_(None), VerificationJob.not_before <= bindparam("now")))
# The ready jobs leased before the given one: ready_order's order, counted.
_AHEAD = select(func.count()).select_from(VerificationJob).where(
    *_READY,
    tuple_(VerificationJob.priority, VerificationJob.turn, VerificationJob.id)
    < tuple_(bindparam("priority"), bindparam("turn"), bindparam("job_id")),
)
_RECENT = (
    select(VerificationJob.started_at, VerificationJob.finished_at)
    .where(VerificationJob.status == JobStatus.done.value,
           VerificationJob.started_at.is_not(None))
    .order_by(VerificationJob.finished_at.desc())
    .limit(RECENT_JOBS)
)
_BUSY_WORKERS = (
    select(func.count(func.distinct(VerificationJob.worker_id)))
    .where(VerificationJob.status == JobStatus.running.value)
)
_AHEAD_AND_BUSY = select(_AHEAD.scalar_subquery(), _BUSY_WORKERS.scalar_subquery())


def verification_status(*, session: Session,
                        version: ObservationVersion) -> VerificationStatus | None:
    """The latest job of a version, as the API shows it."""
    return verification_status_of(session=session, version_id=version.id)


def verification_status_of(*, session: Session, version_id: int) -> VerificationStatus | None:
    """verification_status by the version's id."""
    job = session.execute(_LATEST_JOB, {"version_id": version_id}).scalar_one_or_none()
    return None if job is None else status_of_job(session=session, job=job)


def latest_job_id(version_id: Any) -> Any:
    """The id of the latest job of the version `version_id` (a column or value), as a
    scalar subquery: for lookups that fetch a version and its job in one query."""
    job = aliased(VerificationJob)
    return (select(func.max(job.id)).where(job.version_id == version_id)
            .correlate_except(job).scalar_subquery())


def status_of_job(*, session: Session, job: VerificationJob) -> VerificationStatus:
    """A version's latest job as the API shows it: where it is in the queue and the time
    left while queued, each seed's progress while it runs."""
    now = utcnow()
    position = progress = eta = None
    if job.status == JobStatus.queued.value:
        position, eta = _place_in_queue(session=session, job=job, now=now)
    elif job.status == JobStatus.running.value and job.progress:
        progress = JobProgress.model_validate(job.progress)
        if progress.eta_s is not None:
            reported = datetime.fromisoformat(job.progress["reported_at"])
            eta = max(0.0, round(progress.eta_s - (now - reported).total_seconds(), 1))
    return VerificationStatus.of(job, job=job.id, worker=job.worker_id, position=position,
                                 progress=progress, eta_s=eta)


def _place_in_queue(*, session: Session, job: VerificationJob,
                    now: datetime) -> tuple[int | None, float | None]:
    """(how many ready jobs will be leased before this queued one, as in
    queue.ready_order: 0 when it is next; the estimated seconds until its verdict: the
    jobs ahead, shared among the workers now busy, then this one, each taking as long as
    the recent jobs took). Both None while it waits out a retry's back-off; the estimate
    None until some job has finished."""
    if job.not_before is not None and aware(job.not_before) > now:
        return None, None
    ahead, workers = session.execute(_AHEAD_AND_BUSY, {
        "now": now, "priority": job.priority, "turn": job.turn, "job_id": job.id}).one()
    recent = session.execute(_RECENT).all()
    if not recent:
        return ahead, None
    typical = statistics.median((end - start).total_seconds() for start, end in recent)
    return ahead, round((ahead / max(1, workers) + 1) * typical, 1)
