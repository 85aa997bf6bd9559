"""Database tables (SQLModel). Alembic owns the schema: see migrations/.

Statuses and relations are stored as short strings and checked against the
enums of `runner.spec` in code, so adding a value needs no schema change.
Metric series are one row per (run, name), holding the whole float64 array as
bytes — never one row per point.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (JSON, BigInteger, Column, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, event, or_, select, update)
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def html_column() -> Any:
    """Markdown (or source) rendered to sanitised HTML when it was written: pages show
    it as it is and never render on a view (issue 11, migration 0005)."""
    return Field(default="", sa_column=Column(Text, nullable=False, default="",
                                              server_default=""))


class TokenScope(str, enum.Enum):
    write = "write"  # post observations, links, comments as the token's user
    worker = "worker"  # claim and complete verification jobs
    admin = "admin"  # everything, including withdrawing and re-verifying


# A seed (< 2**32): BIGINT on Postgres, where INTEGER stops at 2**31; SQLite's INTEGER
# holds 64 bits (migration 0007).
SEED = BigInteger().with_variant(Integer(), "sqlite")


class JobStatus(str, enum.Enum):
    queued = "queued"  # waiting for a worker (new, or requeued after a lapsed lease)
    running = "running"  # leased to a worker until lease_expires_at
    done = "done"  # a result was recorded (whatever the verdict)
    failed = "failed"  # gave up after max_attempts; the verdict is `error`
    cancelled = "cancelled"  # superseded by a re-verification request


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    handle: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    display_name: str = Field(default="", max_length=200)
    orcid: str | None = Field(default=None, max_length=19)
    affiliation: str | None = Field(default=None, max_length=200)
    is_admin: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    # sha256 of the token; the token itself is shown once and never stored.
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    scope: str = Field(default=TokenScope.write.value, max_length=16)
    label: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Phenomenon(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    description_html: str = html_column()
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class Recipe(SQLModel, table=True):
    """Runnable code, content-addressed and immutable."""

    __table_args__ = (UniqueConstraint("sha256", "entrypoint"),)

    id: int | None = Field(default=None, primary_key=True)
    # sha256 of the source; for a built-in, of "builtin:<name>".
    sha256: str = Field(max_length=64, index=True)
    builtin: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, sa_column=Column(Text))
    # The source highlighted (Pygments), for the observation page; "" for a built-in.
    source_html: str = html_column()
    entrypoint: str = Field(default="run", max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class Observation(SQLModel, table=True):
    """The unit of publication, `T-<id>`; its content lives in its versions."""

    # Covers "the latest live version of each observation", the join under every list
    # and count, so SQLite need not read the observation rows (see migration 0002).
    __table_args__ = (Index("ix_observation_latest_live", "latest_version_id", "withdrawn_at"),)

    id: int | None = Field(default=None, primary_key=True)
    author_id: int = Field(foreign_key="user.id", index=True)
    # Denormalised pointer to the newest version, so lists need one join.
    latest_version_id: int | None = Field(default=None, index=True)
    latest_version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    withdrawn_at: datetime | None = None
    withdrawn_reason: str | None = None
    # Bumped by every write that changes what the record of any of its versions says
    # (server/observations/stored.py): a stored record is current while it matches.
    revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0,
                                                      server_default="0"))


class ObservationVersion(SQLModel, table=True):
    """One published, immutable version `T-<n>v<k>` (only its verdict fields change)."""

    __tablename__ = "observation_version"
    __table_args__ = (
        UniqueConstraint("observation_id", "version"),
        # A list filtered by verdict walks this index newest first and stops
        # after one page (migration 0004).
        Index("ix_observation_version_verdict_listing", "verdict", "observation_id"),
        # Versions that would re-run the same thing share one verification.
        Index("ix_observation_version_recipe_seed", "recipe_id", "seed"),
    )

    id: int | None = Field(default=None, primary_key=True)
    observation_id: int = Field(foreign_key="observation.id")
    version: int
    title: str = Field(max_length=300)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    notes_html: str = html_column()
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recipe_id: int = Field(foreign_key="recipe.id")
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seed: int = Field(default=0, sa_column=Column(SEED, nullable=False))  # < 2**32
    claims: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    environment: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    change_message: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    # Verification outcome (runner.spec.Verdict values).
    verdict: str = Field(default="unverified", max_length=20)
    verdict_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    verdict_at: datetime | None = None
    pass_rates: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    comparisons: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # Series a reader sees overlaid in one panel (runner.spec.ObservationCreate.groups).
    groups: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # A sweep observation's grid, seeds and measures (runner.spec.SweepSpec), else null.
    sweep: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class StoredRecord(SQLModel, table=True):
    """A version's API record as it was rendered (orjson bytes, without its live
    verification status), so that reading it is one row, not sixteen queries. Current
    while `revision` is its observation's and `format` the code's (stored.py)."""

    __tablename__ = "stored_record"

    version_id: int = Field(foreign_key="observation_version.id", primary_key=True)
    revision: int
    format: str = Field(max_length=64)
    public_url: str = Field(default="", max_length=2000)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ObservationPhenomenon(SQLModel, table=True):
    __tablename__ = "observation_phenomenon"
    __table_args__ = (
        Index("ix_observation_phenomenon_listing", "phenomenon_id", "observation_id"),
    )

    version_id: int = Field(foreign_key="observation_version.id", primary_key=True)
    phenomenon_id: int = Field(foreign_key="phenomenon.id", primary_key=True)
    # The version's observation, kept here so that a phenomenon's list walks
    # (phenomenon_id, observation_id) newest first and stops after one page,
    # however many observations the phenomenon has (migration 0004).
    observation_id: int = Field(foreign_key="observation.id")


class ObservationTag(SQLModel, table=True):
    __tablename__ = "observation_tag"
    __table_args__ = (Index("ix_observation_tag_listing", "tag", "observation_id"),)

    version_id: int = Field(foreign_key="observation_version.id", primary_key=True)
    tag: str = Field(max_length=64, primary_key=True)
    observation_id: int = Field(foreign_key="observation.id")  # as in ObservationPhenomenon


class Run(SQLModel, table=True):
    """One execution of a version's recipe with one seed."""

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="observation_version.id", index=True)
    kind: str = Field(max_length=20)  # runner.spec.RunKind
    seed: int = Field(sa_column=Column(SEED, nullable=False))
    status: str = Field(max_length=10)  # runner.spec.RunStatus
    job_id: int | None = Field(default=None, foreign_key="verification_job.id")
    worker_id: str | None = Field(default=None, max_length=200)
    environment: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    peak_memory_mb: float | None = None
    network_isolated: bool | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    log_tail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    claim_results: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # A sweep cell's run: the knobs it set, e.g. {"weight_decay": 1.0}; else null.
    cell: dict[str, float] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class MetricSeries(SQLModel, table=True):
    """A whole series in one row: x and y as little-endian float64 bytes (NaN = null)."""

    __tablename__ = "metric_series"
    __table_args__ = (UniqueConstraint("run_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id")
    name: str = Field(max_length=64)
    axis: str = Field(default="step", max_length=64)
    n_points: int
    x: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    y: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # A grid series' second coordinate (a two-knob sweep): x2 as float64 bytes.
    axis2: str | None = Field(default=None, max_length=64)
    x2: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))

    @staticmethod
    def pack(values: Any) -> bytes:
        """Numbers (null as NaN), or a float64 array, as little-endian float64 bytes."""
        return np.asarray(values, dtype="<f8").tobytes()  # numpy reads None as NaN

    def xs(self) -> np.ndarray:
        return np.frombuffer(self.x, dtype="<f8")

    def ys(self) -> np.ndarray:
        return np.frombuffer(self.y, dtype="<f8")

    def x2s(self) -> np.ndarray | None:
        return None if self.x2 is None else np.frombuffer(self.x2, dtype="<f8")


class Link(SQLModel, table=True):
    """`source <relation> target`: target is a version, a phenomenon or an external work."""

    __table_args__ = (
        UniqueConstraint(
            "source_version_id",
            "relation",
            "target_version_id",
            "target_phenomenon_id",
            "target_external",
            name="uq_link_edge",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_version_id: int = Field(foreign_key="observation_version.id", index=True)
    relation: str = Field(max_length=32)  # runner.spec.Relation
    target_version_id: int | None = Field(
        default=None, foreign_key="observation_version.id", index=True
    )
    target_phenomenon_id: int | None = Field(default=None, foreign_key="phenomenon.id")
    # An arXiv id, DOI or URL ("" when the target is internal, so uniqueness holds).
    target_external: str = Field(default="", max_length=500)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    note_html: str = html_column()
    author_id: int = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Comment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    observation_id: int = Field(foreign_key="observation.id", index=True)
    version: int  # the version it was made on
    author_id: int = Field(foreign_key="user.id", index=True)
    parent_id: int | None = Field(default=None, foreign_key="comment.id")
    body: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str = html_column()
    # Optional anchor on a curve: the series and the index the comment is about.
    series: str | None = Field(default=None, max_length=64)
    x: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    edited_at: datetime | None = None
    deleted_at: datetime | None = None


class CommentRevision(SQLModel, table=True):
    """An earlier body of an edited comment (the history is kept)."""

    __tablename__ = "comment_revision"

    id: int | None = Field(default=None, primary_key=True)
    comment_id: int = Field(foreign_key="comment.id", index=True)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class VerificationJob(SQLModel, table=True):
    """The queued work of re-running one observation version on N seeds."""

    __tablename__ = "verification_job"
    __table_args__ = (
        # Claims read ready jobs in (priority, turn, id) order (server/verification/queue.py).
        Index("ix_verification_job_claim", "status", "priority", "turn", "id"),
        Index("ix_verification_job_author_turn", "author_id", "priority", "turn"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # A version's verification, or (version null) one cell of a sweep run for its author.
    version_id: int | None = Field(default=None, foreign_key="observation_version.id",
                                   index=True)
    sweep_run_id: int | None = Field(default=None, foreign_key="sweep_run.id", index=True)
    status: str = Field(default=JobStatus.queued.value, max_length=16)
    seeds: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # A sweep's job: the cells it re-runs, each on every seed (one job per cell, so
    # that several workers share a sweep); null for other observations.
    cells: list[dict[str, float]] | None = Field(default=None, sa_column=Column(JSON))
    attempts: int = 0
    worker_id: str | None = Field(default=None, max_length=200)
    # The account whose worker token claimed it: only that account may report on it.
    worker_user_id: int | None = Field(default=None, foreign_key="user.id")
    lease_expires_at: datetime | None = None
    # A retried job waits until then (the retry policy's back-off).
    not_before: datetime | None = None
    # One line per failed attempt or lapsed lease, for the `error` verdict.
    failures: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Ready jobs are leased lowest priority first, then fairly across authors:
    # 0 for what people post, 1 for background work (the canonical observations
    # of a new registry), which must not hold back a person's first post.
    priority: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # The observation's author, and the job's turn among the jobs of its
    # priority: start-time fair queueing (server/verification/queue.py).
    author_id: int | None = Field(default=None, foreign_key="user.id")
    turn: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # What the worker last said of a running job (runner.spec.JobProgress).
    progress: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class SweepRun(SQLModel, table=True):
    """A sweep its author runs on the registry's workers (`tycho sweep --server`): one
    queue job per cell; the results wait here until the author's folder collects them."""

    __tablename__ = "sweep_run"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user.id", index=True)
    recipe_id: int = Field(foreign_key="recipe.id")
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # runner.spec.SweepSpec: grid, seeds, measures.
    sweep: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class SweepResult(SQLModel, table=True):
    """One finished run of a sweep run's cell: the RunResult as gzip-compressed JSON."""

    __tablename__ = "sweep_result"

    id: int | None = Field(default=None, primary_key=True)
    sweep_run_id: int = Field(foreign_key="sweep_run.id", index=True)
    job_id: int = Field(foreign_key="verification_job.id")
    cell: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    seed: int = Field(sa_column=Column(SEED, nullable=False))  # < 2**32
    status: str = Field(max_length=10)  # runner.spec.RunStatus
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


# --- Observation.revision -------------------------------------------------------------
# A stored record (StoredRecord) is current while its revision is its observation's. Every
# flush that adds, changes or deletes a row a record shows notes which observations' records
# show it; before the transaction commits (or when bump_revisions is called, for a write that
# stores the record it leaves), one UPDATE bumps their revisions, in the same transaction.
# Observations created in the transaction are left out: nothing of theirs is stored yet.
# Bulk UPDATE/DELETE statements bypass flushes: server code issues them only on tables no
# record shows (verification_job; tests/server/test_stored_records.py checks the source).

_TOUCHED = "tycho_touched_records"
_KINDS = ("observation", "version", "run", "comment", "author", "recipe")


def _note_touched(session: OrmSession, flush_context: Any, instances: Any) -> None:
    """Before a flush: note the observations whose records its rows change."""
    touched = session.info.setdefault(_TOUCHED, {"new": [], "everything": False,
                                                 **{kind: set() for kind in _KINDS}})
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if obj in session.dirty and not session.is_modified(obj):
            continue
        new = obj in session.new
        match obj:
            case Observation():
                if new:
                    touched["new"].append(obj)  # its id comes with this flush
                else:
                    touched["observation"].add(obj.id)
            case ObservationVersion() | Comment():
                touched["observation"].add(obj.observation_id)
            case ObservationPhenomenon() | ObservationTag() | Run():
                touched["version"].add(obj.version_id)
            case Link():
                touched["version"].update((obj.source_version_id, obj.target_version_id))
            case MetricSeries():
                touched["run"].add(obj.run_id)
            case CommentRevision():
                touched["comment"].add(obj.comment_id)
            case User() if not new:
                touched["author"].add(obj.id)
            case Recipe() if not new:
                touched["recipe"].add(obj.id)
            case Phenomenon() if not new:
                touched["everything"] = True  # a slug records name; no route changes one


def bump_revisions(session: OrmSession) -> None:
    """Flush, then bump the revision of every observation whose record the transaction's
    flushes changed so far (once each, however many rows of it changed)."""
    session.flush()
    touched = session.info.pop(_TOUCHED, None)
    if touched is None:
        return
    ids = {kind: touched[kind] - {None} for kind in _KINDS}
    version = ObservationVersion
    conditions = []
    if touched["everything"]:
        conditions.append(Observation.id.is_not(None))
    if ids["observation"]:
        conditions.append(Observation.id.in_(ids["observation"]))
    if ids["version"] or ids["recipe"]:
        conditions.append(Observation.id.in_(select(version.observation_id).where(
            or_(version.id.in_(ids["version"]), version.recipe_id.in_(ids["recipe"])))))
    if ids["run"]:
        conditions.append(Observation.id.in_(
            select(version.observation_id).join(Run, Run.version_id == version.id)
            .where(Run.id.in_(ids["run"]))))
    if ids["comment"]:
        conditions.append(Observation.id.in_(
            select(Comment.observation_id).where(Comment.id.in_(ids["comment"]))))
    if ids["author"]:
        conditions.append(Observation.author_id.in_(ids["author"]))
    if not conditions:
        return
    condition = or_(*conditions)
    created = [o.id for o in touched["new"] if o.id is not None]
    if created:
        condition = condition & Observation.id.not_in(created)
    session.connection().execute(
        update(Observation.__table__).where(condition)
        .values(revision=Observation.__table__.c.revision + 1))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Observation):
            session.expire(obj, ["revision"])


def _forget_touched(session: OrmSession, *args: Any) -> None:
    session.info.pop(_TOUCHED, None)


for _event, _listener in (("before_flush", _note_touched), ("before_commit", bump_revisions),
                          ("after_rollback", _forget_touched)):
    if not event.contains(OrmSession, _event, _listener):
        event.listen(OrmSession, _event, _listener)
