"""Where a version's verification is: its place in the queue, each seed's progress, and
an estimate of the time until its verdict (what the API record and the page show)."""

from __future__ import annotations

import statistics
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, tuple_
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


def verification_status(*, session: Session,
                        version: ObservationVersion) -> VerificationStatus | None:
    """The latest job of a version, as the API shows it."""
    return verification_status_of(session=session, version_id=version.id)


def verification_status_of(*, session: Session, version_id: int) -> VerificationStatus | None:
    """verification_status by the version's id."""
    job = session.execute(_LATEST_JOB, {"version_id": version_id}).scalar_one_or_none()
    if job is None:
        return None
    now = utcnow()
    position = progress = eta = None
    if job.status == JobStatus.queued.value:
        position = queue_position(session=session, job=job, now=now)
        eta = _queued_time_left(session=session, position=position)
    elif job.status == JobStatus.running.value and job.progress:
        progress = JobProgress.model_validate(job.progress)
        if progress.eta_s is not None:
            reported = datetime.fromisoformat(job.progress["reported_at"])
            eta = max(0.0, round(progress.eta_s - (now - reported).total_seconds(), 1))
    return VerificationStatus.of(job, job=job.id, worker=job.worker_id, position=position,
                                 progress=progress, eta_s=eta)


def queue_position(*, session: Session, job: VerificationJob, now: datetime) -> int | None:
    """How many ready jobs will be leased before this queued one (0: it is next, as in
    queue.ready_order), or None when it is not ready (waiting out a retry's back-off)."""
    if job.not_before is not None and aware(job.not_before) > now:
        return None
    return session.execute(_AHEAD, {"now": now, "priority": job.priority, "turn": job.turn,
                                     "job_id": job.id}).scalar_one()


def _queued_time_left(*, session: Session, position: int | None) -> float | None:
    """The jobs ahead, shared among the workers now busy, then this one, each taking
    as long as the recent jobs took; None until a job has finished."""
    if position is None:
        return None
    recent = session.execute(_RECENT).all()
    if not recent:
        return None
    typical = statistics.median((end - start).total_seconds() for start, end in recent)
    workers = session.execute(_BUSY_WORKERS).scalar_one()
    return round((position / max(1, workers) + 1) * typical, 1)
