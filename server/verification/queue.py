"""The verification queue: enqueue, claim, heartbeat, complete, fail.

Habits from procrastinate: every state change is one guarded statement (an
`UPDATE ... WHERE <still in the state we saw> RETURNING`), so when two
workers race for a job exactly one of them gets it; a lease is a timestamp; a
lapsed lease puts the job back in the queue; the retry policy is a small pure
object.

The queue is fair. Ready jobs are leased in `ready_order`: background work
(priority 1, the canonical observations of a new registry) after what people
post (priority 0), and within a priority by turn, then age. A job's turn is
given when it is queued, by start-time fair queueing: the turn now being
served, or one after its author's latest turn, whichever is later. So authors
take turns, one job each, and an author who posts fifty observations at once
delays another author's next post by at most the one job being served. A
claim reads the first few jobs in that order and leases the first it can with
a guarded UPDATE; one that another worker took meanwhile is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlmodel import Session

from runner.spec import (
    JobComplete,
    JobHeartbeatReply,
    JobProgress,
    RunKind,
    Verdict,
    verification_seeds,
)
from server.errors import Problem, invalid, not_found
from server.models import (
    JobStatus,
    Observation,
    ObservationVersion,
    Recipe,
    VerificationJob,
    utcnow,
)
from server.observations.store import store_run
from server.settings import Settings
from server.verification.sharing import job_to_share, share, share_with_twins

# Jobs a claim considers at once: enough that workers racing for the first
# ones still find one free, few enough to read in one small query.
CLAIM_CANDIDATES = 8
# Priorities: what people post, and background work.
PRIORITY_POSTED, PRIORITY_BACKGROUND = 0, 1


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed job again, if at all."""

    max_attempts: int = 3
    # Seconds to wait before attempt k+1 is base * 2**(k-1): a crash from a
    # full disk or a killed machine often clears within minutes.
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 300.0

    def next_delay(self, attempts: int) -> float | None:
        """Seconds until the next attempt after `attempts` tries, or None to give up."""
        if attempts >= self.max_attempts:
            return None
        return min(self.backoff_base_seconds * 2 ** max(attempts - 1, 0), self.backoff_max_seconds)


def enqueue_verification(
    *, session: Session, version: ObservationVersion, settings: Settings, again: bool = False,
    priority: int = PRIORITY_POSTED,
) -> VerificationJob | None:
    """Queue the re-run of a version (or share a twin's: server/verification/sharing.py);
    a version that will not be run gets `unverifiable`."""
    recipe = session.get(Recipe, version.recipe_id)
    if recipe.builtin is None and not settings.verify_submitted_code:
        version.verdict = Verdict.unverifiable.value
        version.verdict_reason = (
            "this registry does not run submitted code (TYCHO_VERIFY_SUBMITTED_CODE=false); "
            "re-run it yourself with `tycho rerun`"
        )
        session.add(version)
        return None
    seeds = verification_seeds(version.seed, settings.verify_seeds)
    if again:
        _cancel(session=session, versions=[version.id])
    elif (shared := job_to_share(session=session, version=version, seeds=seeds)) is not None:
        share(session=session, job=shared, version=version)
        return None
    author_id = session.get(Observation, version.observation_id).author_id
    job = VerificationJob(
        version_id=version.id, seeds=seeds,
        priority=priority, author_id=author_id,
        turn=_next_turn(session=session, author_id=author_id, priority=priority),
    )
    session.add(job)
    session.flush()
    return job


def _cancel(*, session: Session, versions: Any) -> None:
    session.execute(
        update(VerificationJob)
        .where(
            VerificationJob.version_id.in_(versions),
            VerificationJob.status.in_([JobStatus.queued.value, JobStatus.running.value]),
        )
        .values(status=JobStatus.cancelled.value, finished_at=utcnow())
    )


def cancel_open_jobs(*, session: Session, observation_id: int) -> None:
    """Cancel the queued and running jobs of every version (a withdrawn observation)."""
    versions = select(ObservationVersion.id).where(
        ObservationVersion.observation_id == observation_id
    )
    _cancel(session=session, versions=versions)


def requeue_lapsed(*, session: Session, policy: RetryPolicy, now: datetime) -> int:
    """Hand back jobs whose lease lapsed; give up on those out of attempts. Returns the count.

    Each hand-back is a guarded UPDATE (still running, still lapsed), so when two
    claimers see the same lapsed job only one of them requeues it: SQLite ignores
    FOR UPDATE, and a plain read-then-write let two workers lease one job.
    """
    candidates = session.execute(
        select(VerificationJob.id, VerificationJob.worker_id).where(
            VerificationJob.status == JobStatus.running.value,
            VerificationJob.lease_expires_at < now,
        )
    ).all()
    requeued = 0
    for job_id, worker_id in candidates:
        won = session.execute(
            update(VerificationJob)
            .where(
                VerificationJob.id == job_id,
                VerificationJob.status == JobStatus.running.value,
                VerificationJob.lease_expires_at < now,
            )
            .values(status=JobStatus.queued.value, lease_expires_at=None)
            .returning(VerificationJob.id)
        ).scalar_one_or_none()
        if won is None:
            continue  # another claimer handed it back first
        job = session.get(VerificationJob, job_id, populate_existing=True)
        _record_failure(
            session=session,
            job=job,
            reason=f"lease lapsed on worker {worker_id} (no heartbeat)",
            policy=policy,
            now=now,
            # The lease time was the wait; a dead worker's job is ready at once.
            back_off=False,
        )
        requeued += 1
    return requeued


def _record_failure(
    *, session: Session, job: VerificationJob, reason: str, policy: RetryPolicy, now: datetime,
    back_off: bool = True,
) -> None:
    job.failures = [*job.failures, f"attempt {job.attempts}: {reason}"]
    delay = policy.next_delay(job.attempts)
    job.worker_id = None
    job.lease_expires_at = None
    job.progress = None
    if delay is None:
        job.status = JobStatus.failed.value
        job.finished_at = now
        version = session.get(ObservationVersion, job.version_id)
        version.verdict = Verdict.error.value
        version.verdict_reason = f"verification gave up after {job.attempts} attempts: " + "; ".join(
            job.failures
        )
        version.verdict_at = now
        session.add(version)
    else:
        job.status = JobStatus.queued.value
        job.not_before = now + timedelta(seconds=delay) if back_off else None
    session.add(job)


def _next_turn(*, session: Session, author_id: int, priority: int) -> int:
    """The turn now being served (the latest claimed), or one after the author's latest."""
    of_priority = VerificationJob.priority == priority
    served = session.execute(
        select(func.max(VerificationJob.turn))
        .where(of_priority, VerificationJob.started_at.is_not(None))
    ).scalar()
    own = session.execute(
        select(func.max(VerificationJob.turn))
        .where(of_priority, VerificationJob.author_id == author_id)
    ).scalar()
    return max(served or 0, -1 if own is None else own + 1)


def ready_order(now: datetime) -> Any:
    """The ids of the jobs ready to be leased, in the order they will be."""
    return (
        select(VerificationJob.id)
        .where(VerificationJob.status == JobStatus.queued.value,
               or_(VerificationJob.not_before.is_(None), VerificationJob.not_before <= now))
        .order_by(VerificationJob.priority, VerificationJob.turn, VerificationJob.id)
    )


def claim_job(
    *, session: Session, worker_id: str, lease_seconds: int, policy: RetryPolicy,
    user_id: int | None = None,
) -> VerificationJob | None:
    """Lease the next ready job in the fair order to `worker_id`, or None."""
    now = utcnow()
    requeue_lapsed(session=session, policy=policy, now=now)
    candidates = session.execute(ready_order(now).limit(CLAIM_CANDIDATES)).scalars().all()
    for candidate in candidates:
        claimed = session.execute(
            update(VerificationJob)
            .where(VerificationJob.id == candidate,
                   VerificationJob.status == JobStatus.queued.value)
            .values(
                status=JobStatus.running.value,
                worker_id=worker_id,
                worker_user_id=user_id,
                attempts=VerificationJob.attempts + 1,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                started_at=now,
                progress=None,
            )
            .returning(VerificationJob.id)
        ).scalar_one_or_none()
        if claimed is not None:
            return session.get(VerificationJob, claimed, populate_existing=True)
    return None


def _own_live_job(*, session: Session, job_id: int, worker_id: str, now: datetime,
                  user_id: int | None = None) -> VerificationJob:
    job = session.get(VerificationJob, job_id)
    if job is None:
        raise not_found("Job", f"there is no verification job {job_id}")
    if job.worker_user_id is not None and user_id is not None and job.worker_user_id != user_id:
        raise Problem(403, "Not your job", f"job {job_id} was claimed with another account's token")
    if job.status == JobStatus.cancelled.value:
        raise Problem(409, "Job cancelled", f"job {job_id} was cancelled (re-verification requested)")
    lapsed = job.lease_expires_at is None or job.lease_expires_at < now
    if job.status != JobStatus.running.value or job.worker_id != worker_id or lapsed:
        raise Problem(
            409,
            "Lease lapsed",
            f"job {job_id} is no longer leased to worker {worker_id!r} "
            "(its lease lapsed and it was handed back to the queue, or it finished); "
            "this result is refused so that the job's result is recorded once",
        )
    return job


def heartbeat(
    *, session: Session, job_id: int, worker_id: str, lease_seconds: int,
    user_id: int | None = None, progress: JobProgress | None = None,
) -> JobHeartbeatReply:
    """Extend a live lease and keep the worker's progress report; tells the worker
    when its job was cancelled."""
    now = utcnow()
    job = session.get(VerificationJob, job_id)
    if job is not None and job.status == JobStatus.cancelled.value:
        return JobHeartbeatReply(lease_expires_at=now.isoformat(), cancelled=True)
    job = _own_live_job(session=session, job_id=job_id, worker_id=worker_id, now=now,
                        user_id=user_id)
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    if progress is not None:
        job.progress = {**progress.model_dump(mode="json"), "reported_at": now.isoformat()}
    session.add(job)
    return JobHeartbeatReply(lease_expires_at=job.lease_expires_at.isoformat(), cancelled=False)


def complete_job(*, session: Session, job_id: int, result: JobComplete,
                 user_id: int | None = None) -> ObservationVersion:
    """Record a worker's runs and verdict, once: the guard and the state change are one UPDATE."""
    now = utcnow()
    job = _own_live_job(session=session, job_id=job_id, worker_id=result.worker_id, now=now,
                        user_id=user_id)
    seeds = [run.seed for run in result.runs]
    if seeds != job.seeds:
        raise invalid(
            f"runs: job {job_id} assigned seeds {job.seeds} (the original first); "
            f"the result has runs for {seeds}"
        )
    done = session.execute(
        update(VerificationJob)
        .where(
            and_(
                VerificationJob.id == job_id,
                VerificationJob.status == JobStatus.running.value,
                VerificationJob.worker_id == result.worker_id,
                VerificationJob.lease_expires_at >= now,
            )
        )
        .values(status=JobStatus.done.value, finished_at=now)
        .returning(VerificationJob.id)
    ).scalar_one_or_none()
    if done is None:
        raise Problem(409, "Lease lapsed", f"job {job_id} was completed or handed back meanwhile")
    job = session.get(VerificationJob, job_id, populate_existing=True)
    version = session.get(ObservationVersion, job.version_id)
    for run in result.runs:
        store_run(
            session=session,
            version=version,
            run=run,
            kind=RunKind.verification,
            job_id=job.id,
            worker_id=result.worker_id,
        )
    version.verdict = result.verdict.value
    version.verdict_reason = result.reason
    version.verdict_at = now
    version.pass_rates = result.pass_rates
    version.comparisons = [c.model_dump() for c in result.comparisons]
    session.add(version)
    share_with_twins(session=session, version=version)
    return version


def fail_job(
    *, session: Session, job_id: int, worker_id: str, reason: str, policy: RetryPolicy,
    user_id: int | None = None,
) -> VerificationJob:
    """A worker could not finish: retry later, or give up with verdict `error`."""
    now = utcnow()
    job = _own_live_job(session=session, job_id=job_id, worker_id=worker_id, now=now,
                        user_id=user_id)
    _record_failure(session=session, job=job, reason=reason, policy=policy, now=now)
    return job


def release_job(*, session: Session, job_id: int, worker_id: str,
                user_id: int | None = None) -> VerificationJob:
    """A worker shutting down hands its job back; the attempt does not count."""
    job = _own_live_job(session=session, job_id=job_id, worker_id=worker_id, now=utcnow(),
                        user_id=user_id)
    job.status = JobStatus.queued.value
    job.attempts = max(job.attempts - 1, 0)
    job.worker_id = None
    job.worker_user_id = None
    job.lease_expires_at = None
    job.progress = None
    session.add(job)
    return job
