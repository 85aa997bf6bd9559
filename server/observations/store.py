"""Writing observations: create, version, and store runs with their series.

Service functions take keyword-only arguments, never commit (the request or
the job does), and raise `Problem` for input a person must fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from runner.claims import ClaimSyntaxError, validate_claim
from runner.spec import (
    BUILTIN_RECIPES,
    SLUG,
    BuiltinRecipe,
    ObservationCreate,
    RunKind,
    RunResult,
    RunStatus,
    SourceRecipe,
    Verdict,
    source_sha256,
)
from server.errors import Problem, invalid
from server.models import (MetricSeries, Observation, ObservationPhenomenon, ObservationTag,
                           ObservationVersion, Phenomenon, Recipe, Run, User, utcnow)
from server.settings import Settings, get_settings
from server.web.markup import highlight_source, render_markdown

BUILTIN_ENTRYPOINT = ""
# What a posted author run says of itself (ObservationCreate.runs[0]); the rest is the body's.
POSTED_MEASURES = ("wall_time_s", "cpu_time_s", "peak_memory_mb", "network_isolated", "log_tail",
                   "claims")


def ensure_recipe(*, session: Session, recipe: BuiltinRecipe | SourceRecipe) -> Recipe:
    """The stored recipe with this content, created on first use (recipes are immutable),
    its source highlighted then, once."""
    if isinstance(recipe, BuiltinRecipe):
        if recipe.builtin not in BUILTIN_RECIPES:
            raise invalid(
                f"recipe.builtin: no built-in recipe {recipe.builtin!r}; "
                f"built-ins are: {', '.join(BUILTIN_RECIPES)}"
            )
        # A built-in's entrypoint is empty, which submitted source can never have
        # (it must be a function name): so source that happens to read
        # "builtin:<name>" cannot stand in for the built-in.
        digest, entrypoint = source_sha256(f"builtin:{recipe.builtin}"), BUILTIN_ENTRYPOINT
        kind = Recipe.builtin == recipe.builtin
    else:
        digest, entrypoint = recipe.sha256, recipe.entrypoint
        kind = Recipe.builtin.is_(None)
    wanted = select(Recipe).where(Recipe.sha256 == digest, Recipe.entrypoint == entrypoint, kind)
    row = session.exec(wanted).first()
    if row is None:
        # Two first posts of the same recipe may race here: the second one's insert is
        # a no-op, and both read the one row back (no 409 for an immutable row).
        values = dict(
            sha256=digest,
            entrypoint=entrypoint,
            builtin=getattr(recipe, "builtin", None),
            source=getattr(recipe, "source", None),
            source_html=str(highlight_source(recipe.source)) if isinstance(
                recipe, SourceRecipe) else "",
            created_at=utcnow(),
        )
        insert = (sqlite_insert if session.get_bind().dialect.name == "sqlite"
                  else postgres_insert)
        session.execute(insert(Recipe).values(**values)
                        .on_conflict_do_nothing(index_elements=["sha256", "entrypoint"]))
        row = session.exec(wanted).one()
    return row


def _phenomena_for(*, session: Session, slugs: list[str]) -> list[Phenomenon]:
    wanted = list(dict.fromkeys(slugs))
    if not wanted:
        return []
    rows = session.exec(select(Phenomenon).where(Phenomenon.slug.in_(wanted))).all()
    found = {p.slug: p for p in rows}
    missing = [s for s in wanted if s not in found]
    if missing:
        known = session.exec(select(Phenomenon.slug).order_by(Phenomenon.slug)).all()
        raise invalid(
            f"phenomena: unknown phenomenon {', '.join(map(repr, missing))}; known: "
            f"{', '.join(known)} (propose a new one with POST /api/v1/phenomena)"
        )
    return [found[s] for s in wanted]


def _check_submission(body: ObservationCreate, settings: Settings) -> None:
    caps = [("notes", body.notes, settings.max_notes_chars, "TYCHO_MAX_NOTES_CHARS")]
    if isinstance(body.recipe, SourceRecipe):
        caps.append(("recipe.source", body.recipe.source, settings.max_source_chars,
                     "TYCHO_MAX_SOURCE_CHARS"))
    for where, text, cap, setting in caps:
        if len(text) > cap:
            raise invalid(f"{where}: {len(text):,} characters; the limit is {cap:,} ({setting})",
                          errors=[{"location": where, "message": f"longer than {cap:,}"}])
    for i, claim in enumerate(body.claims):
        try:
            validate_claim(claim, body.metrics.keys())
        except ClaimSyntaxError as exc:
            raise invalid(
                f"claims[{i}]: {exc.message} (column {exc.column})",
                errors=[{"location": f"claims.{i}", "message": exc.message, "column": exc.column}],
            ) from None
    for tag in body.tags:
        if not SLUG.match(tag):
            raise invalid(
                f"tags: {tag!r} is not a tag; use lower-case words joined by hyphens"
            )


def create_observation(
    *, session: Session, author: User, body: ObservationCreate, settings: Settings | None = None
) -> tuple[Observation, ObservationVersion]:
    """A new observation `T-<n>` with version 1 and the author's run."""
    _check_submission(body, settings or get_settings())
    # Everything slow happens before the first write, which on SQLite takes the lock.
    prepared = _prepare(session=session, body=body)
    observation = Observation(author_id=author.id, latest_version=1)
    session.add(observation)
    session.flush()
    version = _add_version(
        session=session, observation=observation, author=author, body=body, number=1,
        prepared=prepared,
    )
    return observation, version


def create_version(
    *,
    session: Session,
    observation: Observation,
    author: User,
    body: ObservationCreate,
    change_message: str,
    settings: Settings | None = None,
) -> ObservationVersion:
    """Version k+1 of an observation; the earlier versions stay as they were."""
    if observation.author_id != author.id:
        raise Problem(
            403, "Not allowed", "only the observation's author may publish a new version"
        )
    if observation.withdrawn_at is not None:
        raise Problem(409, "Withdrawn", "this observation was withdrawn; post a new one")
    _check_submission(body, settings or get_settings())
    prepared = _prepare(session=session, body=body)
    number = observation.latest_version + 1
    version = _add_version(
        session=session,
        observation=observation,
        author=author,
        body=body,
        number=number,
        prepared=prepared,
        change_message=change_message,
    )
    observation.latest_version = number
    session.add(observation)
    return version


@dataclass(frozen=True)
class _Prepared:
    """What a version needs that is read or rendered before anything is written."""

    phenomena: list[Phenomenon]
    recipe: Recipe
    notes_html: str


def _prepare(*, session: Session, body: ObservationCreate) -> _Prepared:
    notes_html = str(render_markdown(body.notes))
    phenomena = _phenomena_for(session=session, slugs=body.phenomena)
    # A new recipe is highlighted, then written: the first write of the request.
    return _Prepared(phenomena=phenomena, notes_html=notes_html,
                     recipe=ensure_recipe(session=session, recipe=body.recipe))


def _add_version(
    *,
    session: Session,
    observation: Observation,
    author: User,
    body: ObservationCreate,
    number: int,
    prepared: _Prepared,
    change_message: str = "",
) -> ObservationVersion:
    linked, recipe = prepared.phenomena, prepared.recipe
    version = ObservationVersion(
        observation_id=observation.id,
        version=number,
        title=body.title.strip(),
        notes=body.notes,
        notes_html=prepared.notes_html,
        tags=list(dict.fromkeys(body.tags)),
        recipe_id=recipe.id,
        config=body.config,
        seed=body.seed,
        claims=list(body.claims),
        environment=body.environment.model_dump() if body.environment else None,
        groups=[list(group) for group in body.groups],
        sweep=body.sweep.model_dump(mode="json") if body.sweep else None,
        change_message=change_message,
        verdict=Verdict.unverified.value,
    )
    session.add(version)
    session.flush()
    observation.latest_version_id = version.id
    session.add(observation)
    for phenomenon in linked:
        session.add(ObservationPhenomenon(version_id=version.id, phenomenon_id=phenomenon.id,
                                          observation_id=observation.id))
    for tag in version.tags:
        session.add(ObservationTag(version_id=version.id, tag=tag, observation_id=observation.id))
    # The author's run as measured where it ran (claims, timings), when the body says.
    measured = body.runs[0] if body.runs else RunResult.model_construct(
        wall_time_s=None, cpu_time_s=None, peak_memory_mb=None, network_isolated=None,
        log_tail="", claims=[])
    store_run(
        session=session,
        version=version,
        # The series were validated with the body; constructing skips a second pass.
        run=RunResult.model_construct(**{
            **{name: getattr(measured, name) for name in POSTED_MEASURES},
            "status": RunStatus.ok, "seed": body.seed, "metrics": body.metrics,
            "environment": body.environment, "error": None}),
        kind=RunKind.author,
    )
    # A sweep's cells' runs, or a local reproduction's fresh seeds.
    kind = RunKind.cell if body.sweep is not None else RunKind.reproduction
    for run in body.runs[1:]:
        store_run(session=session, version=version, run=run, kind=kind)
    return version


def store_run(
    *,
    session: Session,
    version: ObservationVersion,
    run: RunResult,
    kind: RunKind,
    job_id: int | None = None,
    worker_id: str | None = None,
) -> Run:
    """Store one run and its series (one row per series, the whole array in it)."""
    row = Run(
        version_id=version.id,
        kind=kind.value,
        seed=run.seed,
        status=run.status.value if hasattr(run.status, "value") else str(run.status),
        job_id=job_id,
        worker_id=worker_id,
        environment=run.environment.model_dump() if run.environment else None,
        wall_time_s=run.wall_time_s,
        cpu_time_s=run.cpu_time_s,
        peak_memory_mb=run.peak_memory_mb,
        network_isolated=run.network_isolated,
        error=run.error,
        log_tail=run.log_tail,
        claim_results=[c.model_dump() for c in run.claims],
        cell=run.cell,
    )
    session.add(row)
    session.flush()
    session.add_all(
        [
            MetricSeries(
                run_id=row.id,
                name=name,
                axis=series.axis,
                n_points=len(series.x),
                x=MetricSeries.pack(x),
                y=MetricSeries.pack(y),
                axis2=series.axis2,
                x2=None if series.x2 is None else MetricSeries.pack(series.x2_array()),
            )
            for name, series in run.metrics.items()
            for x, y in [series.arrays()]
        ]
    )
    return row
