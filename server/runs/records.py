"""The record of one run of a version, as its page and GET /observations/{ref}/runs/{id}
show it."""

from __future__ import annotations

from sqlmodel import Session, select

from server.errors import not_found
from server.models import MetricSeries, ObservationVersion, Run
from server.observations.queries import find_version
from server.observations.schemas import SeriesInfo
from server.runs.schemas import RunPublic


def find_run(*, session: Session, ref: str, run_id: int) -> tuple[ObservationVersion, Run, str]:
    """The version `ref` names, its run `run_id` and the version's full ref (T-42v2)."""
    observation, version = find_version(session=session, ref=ref)
    full_ref = f"T-{observation.id}v{version.version}"
    run = session.get(Run, run_id)
    if run is None or run.version_id != version.id:
        raise not_found("Run", f"{full_ref} has no run {run_id}; its page lists its runs")
    return version, run, full_ref


def run_record(*, session: Session, ref: str, run_id: int) -> RunPublic:
    version, run, full_ref = find_run(session=session, ref=ref, run_id=run_id)
    series = session.exec(
        select(MetricSeries.name, MetricSeries.axis, MetricSeries.n_points)
        .where(MetricSeries.run_id == run.id).order_by(MetricSeries.id)
    ).all()
    return RunPublic.of(run, observation=full_ref, title=version.title,
                        config={**version.config, **(run.cell or {})},
                        metrics=[SeriesInfo.of(row) for row in series])
