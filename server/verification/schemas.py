"""The verification of a version, and the queue's answers to workers and admins, as the API
gives them (what workers send and get is runner.spec's worker protocol)."""

from __future__ import annotations

from datetime import datetime

from runner.spec import Verdict
from server.models import JobStatus
from server.public import Record


class VerificationStatus(Record):
    """The latest verification job of a version."""

    job: int
    status: JobStatus
    attempts: int
    seeds: list[int]
    worker: str | None = None
    lease_expires_at: datetime | None = None
    failures: list[str]
    created_at: datetime
    finished_at: datetime | None = None


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
