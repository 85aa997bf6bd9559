"""Sweep runs: a sweep's cells queued as jobs for any number of workers, their results
kept until the author's `tycho sweep --server` collects them into its folder.

The jobs are the verification queue's (server/verification/queue.py), so they are
leased, heart-beaten, retried and ordered fairly exactly like verifications; a
sweep run's job has `sweep_run_id` set and no version. A job is one cell on all
the sweep's seeds (a built-in that trains seeds together runs them as one batch).
"""

from __future__ import annotations

import gzip

from sqlalchemy import select
from sqlmodel import Session

from runner.spec import ObservationSpec, RunResult, SourceRecipe, SweepSpec
from server.errors import Problem, invalid, not_found
from server.models import JobStatus, SweepResult, SweepRun, User, VerificationJob
from server.observations.queries import recipe_spec
from server.observations.store import ensure_recipe
from server.settings import Settings
from server.sweeps.schemas import CellState, SweepRunCreate, SweepRunPublic
from server.verification.queue import PRIORITY_POSTED, next_turn

# Results are fetched in pages of at most this many runs.
RESULTS_PAGE = 32


def create_sweep_run(*, session: Session, owner: User, body: SweepRunCreate,
                     settings: Settings) -> SweepRun:
    """A sweep run and one queued job per cell (all its seeds)."""
    recipe = body.recipe
    if isinstance(recipe, SourceRecipe) and not settings.verify_submitted_code:
        raise invalid("this registry's workers do not run submitted code "
                      "(TYCHO_VERIFY_SUBMITTED_CODE=false); run the sweep on your machine")
    row = SweepRun(owner_id=owner.id, recipe_id=ensure_recipe(session=session, recipe=recipe).id,
                   config=body.config, sweep=body.sweep.model_dump(mode="json"))
    session.add(row)
    session.flush()
    for cell in body.sweep.cells():
        session.add(VerificationJob(
            sweep_run_id=row.id, seeds=list(body.sweep.seeds), cells=[cell],
            priority=PRIORITY_POSTED, author_id=owner.id,
            turn=next_turn(session=session, author_id=owner.id, priority=PRIORITY_POSTED)))
        session.flush()
    return row


def get_sweep_run(*, session: Session, sweep_id: int, owner: User | None = None) -> SweepRun:
    row = session.get(SweepRun, sweep_id)
    if row is None:
        raise not_found("Sweep run", f"there is no sweep run {sweep_id}")
    if owner is not None and row.owner_id != owner.id:
        raise Problem(403, "Not allowed", f"sweep run {sweep_id} is another account's")
    return row


def _jobs(session: Session, row: SweepRun) -> list[VerificationJob]:
    return list(session.execute(
        select(VerificationJob).where(VerificationJob.sweep_run_id == row.id)
        .order_by(VerificationJob.id)).scalars())


def sweep_run_public(*, session: Session, row: SweepRun) -> SweepRunPublic:
    sweep = SweepSpec.model_validate(row.sweep)
    jobs = _jobs(session, row)
    done = session.execute(
        select(SweepResult.id).where(SweepResult.sweep_run_id == row.id)).all()
    return SweepRunPublic(
        id=row.id, sweep=sweep, config=row.config, created_at=row.created_at,
        total=len(sweep.cells()) * len(sweep.seeds), done=len(done),
        failed_cells=sum(job.status == JobStatus.failed.value for job in jobs),
        cells=[CellState(cell=(job.cells or [{}])[0], seeds=job.seeds, status=job.status,
                         attempts=job.attempts, failures=job.failures) for job in jobs])


def sweep_run_results(*, session: Session, row: SweepRun, after: int = 0,
                      ) -> tuple[list[RunResult], int | None]:
    """Finished runs after result id `after`, oldest first, one page."""
    results = session.execute(
        select(SweepResult).where(SweepResult.sweep_run_id == row.id, SweepResult.id > after)
        .order_by(SweepResult.id).limit(RESULTS_PAGE)).scalars().all()
    runs = [RunResult.model_validate_json(gzip.decompress(result.body)) for result in results]
    return runs, (results[-1].id if results else None)


def sweep_job_spec(*, session: Session, job: VerificationJob) -> ObservationSpec:
    """What a worker needs to run a sweep run's cell: the recipe, base config, sweep."""
    row = session.get(SweepRun, job.sweep_run_id)
    sweep = SweepSpec.model_validate(row.sweep)
    return ObservationSpec.model_construct(recipe=recipe_spec(session=session,
                                                              recipe_id=row.recipe_id),
                                           config=row.config,
                                           seed=sweep.seeds[0], sweep=sweep)


def store_sweep_results(*, session: Session, job: VerificationJob, runs: list[RunResult]) -> None:
    """A sweep run's cell job, done: each run kept, compressed, for the author to fetch."""
    expected = [(cell, seed) for cell in job.cells or [] for seed in job.seeds]
    got = [(run.cell, run.seed) for run in runs]
    if got != expected:
        raise invalid(f"runs: job {job.id} assigned the cells and seeds {expected}, in that "
                      f"order; the result has runs for {got}")
    for run in runs:
        session.add(SweepResult(
            sweep_run_id=job.sweep_run_id, job_id=job.id, cell=run.cell, seed=run.seed,
            status=run.status.value, body=gzip.compress(run.model_dump_json().encode())))
