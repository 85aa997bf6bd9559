"""The verification of a version, and the queue's answers to workers and admins, as the API
gives them (what workers send and get is runner.spec's worker protocol)."""

from __future__ import annotations

from datetime import datetime

from runner.spec import JobProgress, Verdict
from server.models import JobStatus
from server.public import Record


class VerificationStatus(Record):
    """The latest verification job of a version, and where it is."""

    job: int
    status: JobStatus
    attempts: int
    seeds: list[int]
    worker: str | None = None
    lease_expires_at: datetime | None = None
    failures: list[str]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Queued: how many ready jobs go before it (0: it is next); None while a
    # retry waits out its back-off.
    position: int | None = None
    # Running: the worker's last report, each seed's state, step and time left.
    progress: JobProgress | None = None
    # Seconds until the verdict, estimated: the worker's own estimate while it
    # runs; while queued, the jobs ahead at the recent jobs' typical duration.
    eta_s: float | None = None


class VerificationQueued(Record):
    """An admin's request for a fresh verification: queued, or not (the verdict says why)."""

    queued: bool
    job: int | None = None


class JobCompleted(Record):
    observation: str  # T-42v1
    verdict: Verdict


class JobReleased(Record):
    job: int
    status: JobStatus


class JobFailed(JobReleased):
    attempts: int
