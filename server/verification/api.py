"""The worker protocol (claim, heartbeat, complete, fail: worker-scoped tokens), and where
a version's verification is, for anyone."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Response

from runner.spec import (
    Id,
    JobAssignment,
    JobClaimRequest,
    JobComplete,
    JobFail,
    JobHeartbeat,
    JobHeartbeatReply,
    Verdict,
)
from server.deps import JSONRoute, SessionDep, SettingsDep, WorkerUser
from server.models import ObservationVersion, VerificationJob
from server.observations.queries import find_version, format_ref, spec_of
from server.verification.queue import (
    RetryPolicy,
    claim_job,
    complete_job,
    fail_job,
    heartbeat,
    release_job,
)
from server.sweeps.service import sweep_job_spec
from server.verification.schemas import (
    JobCompleted,
    JobFailed,
    JobReleased,
    VerificationStatus,
)
from server.verification.status import verification_status

router = APIRouter(tags=["worker"], route_class=JSONRoute)


class QuietHeartbeats(logging.Filter):
    """Keeps heartbeats out of the access log: a running job reports every few
    seconds, which would bury every other request of `tycho serve`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (len(args) >= 3 and str(args[2]).endswith("/heartbeat"))


JobId = Annotated[Id, Path(description="the job's number, from /jobs/claim")]


def _policy(settings) -> RetryPolicy:
    return RetryPolicy(max_attempts=settings.max_attempts)


@router.post("/jobs/claim", response_model=JobAssignment | None)
def claim(body: JobClaimRequest, session: SessionDep, settings: SettingsDep,
          worker: WorkerUser) -> JobAssignment | Response:
    """Lease the next job: its spec and the seeds to run (original first). 204 when none."""
    job = claim_job(
        session=session, worker_id=body.worker_id, lease_seconds=settings.lease_seconds,
        policy=_policy(settings), user_id=worker.id,
    )
    if job is None:
        session.commit()  # lapsed leases may have been requeued
        return Response(status_code=204)
    if job.sweep_run_id is not None:  # a cell of a sweep its author runs here
        what, purpose = f"sweep {job.sweep_run_id}", "sweep"
        spec = sweep_job_spec(session=session, job=job)
    else:
        version = session.get(ObservationVersion, job.version_id)
        what, purpose = format_ref(version.observation_id, version.version), "verify"
        spec = spec_of(session=session, version=version)
    assignment = JobAssignment(
        job_id=job.id,
        observation=what,
        purpose=purpose,
        spec=spec,
        seeds=job.seeds,
        cells=job.cells or [],
        lease_expires_at=job.lease_expires_at.isoformat(),
        lease_seconds=settings.lease_seconds,
    )
    session.commit()
    return assignment


@router.post("/jobs/{job_id}/heartbeat", response_model=JobHeartbeatReply)
def beat(job_id: JobId, body: JobHeartbeat, session: SessionDep, settings: SettingsDep,
         worker: WorkerUser) -> JobHeartbeatReply:
    """Extend the lease and report how far the job is; `cancelled: true` tells the worker
    to stop."""
    reply = heartbeat(session=session, job_id=job_id, worker_id=body.worker_id,
                      lease_seconds=settings.lease_seconds, user_id=worker.id,
                      progress=body.progress)
    session.commit()
    return reply


@router.post("/jobs/{job_id}/complete", response_model=JobCompleted)
def complete(job_id: JobId, body: JobComplete, session: SessionDep, settings: SettingsDep,
             worker: WorkerUser) -> JobCompleted:
    """Record the runs and the verdict; refused (409) once the lease has lapsed."""
    version = complete_job(session=session, job_id=job_id, result=body, settings=settings,
                           user_id=worker.id)
    session.commit()
    if version is None:  # a sweep run's cell: its runs wait for the sweep's author
        return JobCompleted(observation=f"sweep {job_sweep(session, job_id)}",
                            verdict=Verdict.unverified)
    return JobCompleted(observation=format_ref(version.observation_id, version.version),
                        verdict=version.verdict)


def job_sweep(session, job_id: int) -> int | None:
    job = session.get(VerificationJob, job_id)
    return job.sweep_run_id if job is not None else None


@router.post("/jobs/{job_id}/fail", response_model=JobFailed)
def fail(job_id: JobId, body: JobFail, session: SessionDep, settings: SettingsDep,
         worker: WorkerUser) -> JobFailed:
    """Report that the job could not be run; it is retried or ends in verdict `error`."""
    job = fail_job(session=session, job_id=job_id, worker_id=body.worker_id, reason=body.reason,
                   policy=_policy(settings), user_id=worker.id)
    session.commit()
    return JobFailed.of(job, job=job.id)


@router.post("/jobs/{job_id}/release", response_model=JobReleased)
def release(job_id: JobId, body: JobHeartbeat, session: SessionDep,
            worker: WorkerUser) -> JobReleased:
    """Hand a job back to the queue without counting the attempt (a worker shutting down)."""
    job = release_job(session=session, job_id=job_id, worker_id=body.worker_id,
                      user_id=worker.id)
    session.commit()
    return JobReleased.of(job, job=job.id)


@router.get("/observations/{ref}/verification", tags=["observations"],
            response_model=VerificationStatus | None)
def get_verification(ref: str, session: SessionDep) -> VerificationStatus | None:
    """Where the version's latest verification is: queued (its place in the queue),
    running (each seed's step and the time left), or finished; null if none was queued."""
    _, version = find_version(session=session, ref=ref)
    return verification_status(session=session, version=version)
