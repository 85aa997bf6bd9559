"""Where a version's verification is: its place in the queue, each seed's progress, and
an estimate of the time until its verdict (what the API record and the page show)."""

from __future__ import annotations

import statistics
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from runner.spec import JobProgress
from server.models import JobStatus, ObservationVersion, VerificationJob, utcnow
from server.verification.queue import ready_order
from server.verification.schemas import VerificationStatus

# Finished jobs whose durations give the typical one, for a queued job's estimate.
RECENT_JOBS = 20


def verification_status(*, session: Session,
                        version: ObservationVersion) -> VerificationStatus | None:
    """The latest job of a version, as the API shows it."""
    job = session.execute(
        select(VerificationJob)
        .where(VerificationJob.version_id == version.id)
        .order_by(VerificationJob.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if job is None:
        return None
    now = utcnow()
    position = progress = eta = None
    if job.status == JobStatus.queued.value:
        position = queue_position(session=session, job_id=job.id, now=now)
        eta = _queued_time_left(session=session, position=position)
    elif job.status == JobStatus.running.value and job.progress:
        progress = JobProgress.model_validate(job.progress)
        if progress.eta_s is not None:
            reported = datetime.fromisoformat(job.progress["reported_at"])
            eta = max(0.0, round(progress.eta_s - (now - reported).total_seconds(), 1))
    return VerificationStatus.of(job, job=job.id, worker=job.worker_id, position=position,
                                 progress=progress, eta_s=eta)


def queue_position(*, session: Session, job_id: int, now: datetime) -> int | None:
    """How many ready jobs will be leased before this one (0: it is next), or None
    when it is not ready (waiting out a retry's back-off)."""
    order = session.execute(ready_order(now)).scalars().all()
    return order.index(job_id) if job_id in order else None


def _queued_time_left(*, session: Session, position: int | None) -> float | None:
    """The jobs ahead, shared among the workers now busy, then this one, each taking
    as long as the recent jobs took; None until a job has finished."""
    if position is None:
        return None
    recent = session.execute(
        select(VerificationJob.started_at, VerificationJob.finished_at)
        .where(VerificationJob.status == JobStatus.done.value,
               VerificationJob.started_at.is_not(None))
        .order_by(VerificationJob.finished_at.desc())
        .limit(RECENT_JOBS)
    ).all()
    if not recent:
        return None
    typical = statistics.median((end - start).total_seconds() for start, end in recent)
    workers = session.execute(
        select(func.count(func.distinct(VerificationJob.worker_id)))
        .where(VerificationJob.status == JobStatus.running.value)
    ).scalar_one()
    return round((position / max(1, workers) + 1) * typical, 1)
