"""Stored records: a version's API record is rendered once per change, not on every read.

GET /api/v1/observations/{ref} used to build the record from sixteen queries on every
read. Now the record, less its verification status, is kept as the bytes it was
rendered to (table `stored_record`), with the observation's `revision` it was rendered
at; every write that changes what a record shows bumps that revision in the same
transaction (server/models.py, `bump_revisions`), so a stored record is current
exactly while its revision is the observation's. A read then costs one query (the
version, its stored record and its latest job together) and the verification
status, which is live (the queue position and estimate move with every other job)
and is spliced into the stored bytes.

A record not stored yet, or stale, is rendered and stored by the read that finds it
so. A write that lands while a read renders makes that read's record stale at once
(the write bumped the revision after the read looked at it), never stale for good.
The stored bytes also carry the format of the code that rendered them (the record's
JSON Schema and FORMAT_VERSION) and the public address its links name: a server with
other code or another address renders its own.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson
from sqlalchemy import Integer, and_, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from server.models import (Observation, ObservationVersion, StoredRecord, VerificationJob,
                           bump_revisions)
from server.observations.queries import find_version, parse_ref
from server.observations.records import observation_record
from server.observations.schemas import ObservationPublic
from server.verification.schemas import VerificationStatus
from server.verification.status import latest_job_id, status_of_job, verification_status_of

log = logging.getLogger(__name__)

# Bump when the same schema is rendered differently (a field computed another way).
FORMAT_VERSION = "1"
RECORD_FORMAT = hashlib.sha256(
    orjson.dumps(ObservationPublic.model_json_schema(), option=orjson.OPT_SORT_KEYS)
    + FORMAT_VERSION.encode()
).hexdigest()[:32]

# The version a ref names (its latest when it names none), its current stored record, if
# there is one, and its latest verification job, in one query; built once (building a
# statement costs more than running it on SQLite).
_LOOKUP = (
    select(ObservationVersion.id.label("version_id"), StoredRecord.body, VerificationJob)
    .select_from(Observation)
    .join(ObservationVersion, and_(
        ObservationVersion.observation_id == Observation.id,
        ObservationVersion.version == func.coalesce(bindparam("version", type_=Integer),
                                                    Observation.latest_version)))
    .outerjoin(StoredRecord, and_(
        StoredRecord.version_id == ObservationVersion.id,
        StoredRecord.revision == Observation.revision,
        StoredRecord.format == RECORD_FORMAT,
        StoredRecord.public_url == bindparam("public_url")))
    .outerjoin(VerificationJob, VerificationJob.id == latest_job_id(ObservationVersion.id))
    .where(Observation.id == bindparam("number"))
)

# A version's stored record, if current: for a write's answer and the page, which have the
# observation and version already.
_STORED = select(StoredRecord.body).where(
    StoredRecord.version_id == bindparam("version_id"),
    StoredRecord.revision == bindparam("revision"),
    StoredRecord.format == RECORD_FORMAT,
    StoredRecord.public_url == bindparam("public_url"),
)


def record_json_of(*, session: Session, ref: str, public_url: str = "") -> bytes:
    """The record `ref` names (T-42, T-42v2), as record_json gives it; a current stored
    record is found with one query (the observation, the version, the stored row and the
    latest job together), where looking each up in turn would take three more."""
    number, version = parse_ref(ref)
    row = session.execute(_LOOKUP, {"number": number, "version": version,
                                    "public_url": public_url}).first()
    if row is None or row.body is None:
        observation, found = find_version(session=session, ref=ref)  # 404s say what exists
        return record_json(session=session, observation=observation, version=found,
                           public_url=public_url)
    job = row.VerificationJob
    return _with_status(row.body, None if job is None else status_of_job(session=session,
                                                                         job=job))


def record_json(*, session: Session, observation: Observation, version: ObservationVersion,
                public_url: str = "") -> bytes:
    """The record of `version` as JSON bytes: its stored rendering if current (else
    rendered and stored now), with the live verification status spliced in."""
    revision = observation.revision
    body = session.execute(_STORED, {"version_id": version.id, "revision": revision,
                                     "public_url": public_url}).scalar_one_or_none()
    if body is None:
        body = render_and_store(session=session, observation=observation, version=version,
                                revision=revision, public_url=public_url)
    return answer(session=session, version=version, body=body)


def _with_status(body: bytes, status: VerificationStatus | None) -> bytes:
    """The stored bytes are one JSON object without "verification": close it with it."""
    live = b"null" if status is None else status.model_dump_json().encode()
    return body[:-1] + b',"verification":' + live + b"}"


def render_and_store(*, session: Session, observation: Observation,
                     version: ObservationVersion, revision: int, public_url: str) -> bytes:
    """Render the record of `version` as it is now, store it under `revision` (the
    observation's, read before rendering) and return its bytes. A database that cannot
    take the write just now (SQLite busy past its timeout, a read-only replica) costs
    only the storing: the record is still answered."""
    body = _render(session=session, observation=observation, version=version,
                   public_url=public_url)
    try:
        session.execute(_upsert(session, version_id=version.id, revision=revision,
                                public_url=public_url, body=body))
        session.commit()
    except OperationalError as error:
        session.rollback()
        log.warning("record %s not stored (answered all the same): %s", version.id, error)
    return body


def store_written_record(*, session: Session, observation: Observation,
                         version: ObservationVersion, public_url: str) -> bytes:
    """In a write's own transaction, before its commit: render the record `version` has
    now that the write is done, store it, and return its bytes, so that the write's
    answer and the next reads share one rendering and one commit."""
    bump_revisions(session)  # the write's last changes, and the revisions they bump
    revision = session.execute(
        select(Observation.revision).where(Observation.id == observation.id)).scalar_one()
    body = _render(session=session, observation=observation, version=version,
                   public_url=public_url)
    session.execute(_upsert(session, version_id=version.id, revision=revision,
                            public_url=public_url, body=body))
    return body


def answer(*, session: Session, version: ObservationVersion, body: bytes) -> bytes:
    """A stored rendering with the live verification status: what GET answers."""
    return _with_status(body, verification_status_of(session=session, version_id=version.id))


def _render(*, session: Session, observation: Observation, version: ObservationVersion,
            public_url: str) -> bytes:
    record = observation_record(session=session, observation=observation, version=version,
                                public_url=public_url, verification=False)
    return record.model_dump_json(exclude={"verification"}).encode()


def _upsert(session: Session, **values: object) -> Any:
    insert = postgres_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(StoredRecord).values(format=RECORD_FORMAT, **values)
    return statement.on_conflict_do_update(
        index_elements=[StoredRecord.version_id],
        set_={key: statement.excluded[key] for key in ("revision", "format", "public_url",
                                                        "body")},
    )
