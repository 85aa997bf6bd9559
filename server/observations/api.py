"""Observations: post, list, read, re-run spec, metrics, versions, withdraw."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Response
from sqlmodel import Session, select

from runner.spec import MAX_ID, ObservationCreate, ObservationSpec, Verdict
from server.deps import AdminUser, CurrentUser, JSONRoute, SessionDep, SettingsDep
from server.models import Observation, ObservationVersion, Run, utcnow
from server.settings import Settings
from server.observations.queries import (
    author_series_arrays,
    find_version,
    load_series_arrays,
    spec_of,
)
from server.observations.records import observation_page
from server.observations.schemas import (
    Metrics,
    ObservationPage,
    ObservationPublic,
    VersionCreate,
    WithdrawRequest,
)
from server.observations.store import create_observation, create_version
from server.observations.stored import answer, record_json_of, store_written_record
from server.verification.queue import cancel_open_jobs, enqueue_verification
from server.verification.schemas import VerificationQueued

router = APIRouter(tags=["observations"], route_class=JSONRoute)

VERDICTS = [v.value for v in Verdict]


def _record(session: Session, observation: Observation, version: ObservationVersion,
            settings: Settings, status_code: int = 200) -> Response:
    """Commit a write and answer the record it leaves (server/observations/stored.py):
    rendered and stored in the write's transaction, so the next read finds it; FastAPI
    documents `ObservationPublic` and does not serialise the bytes again."""
    body = store_written_record(session=session, observation=observation, version=version,
                                public_url=settings.public_url)
    session.commit()
    return Response(answer(session=session, version=version, body=body),
                    status_code=status_code, media_type="application/json")


@router.post("/observations", status_code=201, response_model=ObservationPublic)
def post_observation(
    body: ObservationCreate, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> Response:
    """Publish an observation (version 1); a runnable recipe is queued for verification."""
    observation, version = create_observation(session=session, author=user, body=body,
                                              settings=settings)
    enqueue_verification(session=session, version=version, settings=settings)
    return _record(session, observation, version, settings, status_code=201)


@router.get("/observations", response_model=ObservationPage)
def get_observations(
    session: SessionDep,
    settings: SettingsDep,
    phenomenon: str | None = None,
    tag: str | None = None,
    author: str | None = None,
    # A string, not the enum, so that a wrong value gets the service's message.
    verdict: Annotated[str | None, Query(json_schema_extra={"enum": VERDICTS})] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_ID,
                                        description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> ObservationPage:
    """Latest versions, newest first, filtered; pass `next_cursor` back for the next page."""
    return observation_page(session=session, phenomenon=phenomenon, tag=tag, author=author,
                            verdict=verdict, q=q, cursor=cursor,
                            limit=min(limit, settings.max_page_size),
                            public_url=settings.public_url)


@router.get("/observations/{ref}", response_model=ObservationPublic)
def get_observation(ref: str, session: SessionDep, settings: SettingsDep) -> Response:
    """One observation: `42`, `T-42` (latest version) or `T-42v2`."""
    return Response(record_json_of(session=session, ref=ref, public_url=settings.public_url),
                    media_type="application/json")


@router.get("/observations/{ref}/metrics", response_model=Metrics)
def get_metrics(ref: str, session: SessionDep, runs: bool = False) -> Response:
    """The author's series `{name: {x, y, axis}}`; with `runs=true`, every run's too."""
    if not runs:
        body = author_series_arrays(session=session, ref=ref)
    else:
        _, version = find_version(session=session, ref=ref)
        rows = session.exec(select(Run).where(Run.version_id == version.id).order_by(Run.id)).all()
        loaded = load_series_arrays(session=session, run_ids=[r.id for r in rows])
        body = {
            "runs": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "seed": r.seed,
                    "status": r.status,
                    "cell": r.cell,
                    "metrics": loaded[r.id],
                }
                for r in rows
            ]
        }
    # orjson writes the float64 arrays directly (NaN as null); floats round-trip. The
    # answer is a Response, so FastAPI documents `Metrics` but does not re-serialise it.
    body_bytes = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body_bytes, media_type="application/json")


@router.get("/observations/{ref}/spec", response_model=ObservationSpec)
def get_spec(ref: str, session: SessionDep) -> Response:
    """All that is needed to re-run this version: recipe, config, seed, metrics, claims."""
    _, version = find_version(session=session, ref=ref)
    spec = spec_of(session=session, version=version)
    return Response(orjson.dumps(spec.model_dump(mode="json")), media_type="application/json")


@router.post("/observations/{ref}/versions", status_code=201, response_model=ObservationPublic)
def post_version(
    ref: str, body: VersionCreate, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> Response:
    """Publish a new version (author only); earlier versions stay readable and unchanged."""
    observation, _ = find_version(session=session, ref=ref)
    content = ObservationCreate(**body.model_dump(exclude={"change_message"}))
    version = create_version(
        session=session,
        observation=observation,
        author=user,
        body=content,
        change_message=body.change_message,
        settings=settings,
    )
    enqueue_verification(session=session, version=version, settings=settings)
    return _record(session, observation, version, settings, status_code=201)


@router.post("/observations/{ref}/withdraw", response_model=ObservationPublic)
def withdraw(
    ref: str, body: WithdrawRequest, session: SessionDep, admin: AdminUser, settings: SettingsDep
) -> Response:
    """Withdraw an observation (admins): it stays readable, marked, and leaves lists."""
    observation, version = find_version(session=session, ref=ref)
    observation.withdrawn_at = utcnow()
    observation.withdrawn_reason = f"{body.reason} (by {admin.handle})"
    session.add(observation)
    cancel_open_jobs(session=session, observation_id=observation.id)
    return _record(session, observation, version, settings)


@router.post("/observations/{ref}/verify", status_code=202, response_model=VerificationQueued)
def reverify(ref: str, session: SessionDep, admin: AdminUser,
             settings: SettingsDep) -> VerificationQueued:
    """Queue a fresh verification of this version (admins; e.g. after a torch upgrade)."""
    _, version = find_version(session=session, ref=ref)
    job = enqueue_verification(session=session, version=version, settings=settings, again=True)
    session.commit()
    return VerificationQueued(queued=job is not None, job=job.id if job else None)
