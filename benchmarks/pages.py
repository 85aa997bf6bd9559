"""Time every web page against a registry of 10,000 observations.

Fills a fresh SQLite file with bulk inserts (one transaction, a few seconds), adds
one large observation through the service functions (six series, one of 100,000
points, five verification runs), then requests each page in-process and prints
the median and 90th-percentile time of N requests.

    python -m benchmarks.pages            # 10,000 observations, 20 requests
    python -m benchmarks.pages --observations 2000 --repeat 10
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlmodel import select

from runner.spec import (
    BuiltinRecipe,
    ObservationCreate,
    Relation,
    RunKind,
    RunResult,
    Verdict,
)
from server.app import create_app
from server.db import session_for, upgrade_database
from server.initial_data import ensure_phenomena
from server.models import (Comment, Link, MetricSeries, Observation, ObservationPhenomenon,
                           ObservationTag, ObservationVersion, Phenomenon, Run, User)
from server.observations.store import create_observation, ensure_recipe, store_run
from server.settings import Settings

USERS = 200
# Points per stored series of the bulk observations (a short training log).
SERIES_POINTS = 100
# Verification runs of a verified observation: the original seed and four fresh ones.
VERIFICATION_RUNS = 5
LINKS = 3_000
COMMENTS = 5_000
# The page budget of the issue: every page within 100 ms at 10,000 observations.
BUDGET_MS = 100.0
WORDS = ["grokking", "delay", "weight", "decay", "sharpness", "edge", "stability", "double", "descent", "peak", "width", "superposition", "features", "sparse", "scaling", "law", "loss", "plateau", "emergence", "spike", "slingshot", "modular", "addition", "spiral", "diffusion", "velocity", "noise", "teacher", "student", "lazy", "rich"]
TAGS = ["mlp", "transformer", "adam", "sgd", "weight-decay", "width-sweep", "small-data"]
VERDICTS = [Verdict.robust, Verdict.robust, Verdict.reproduced, Verdict.fragile,
            Verdict.not_reproduced, Verdict.unverified, Verdict.unverified, Verdict.error]
CLAIMS = ["final(test_acc) >= 0.95", "first_step(test_acc >= 0.95) >= 2 * first_step(train_acc >= 0.99)"]


def fill_registry(url: str, observations: int, seed: int = 0) -> None:
    """`observations` observations with runs, series, tags, links and comments (bulk)."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    steps = np.arange(SERIES_POINTS, dtype="<f8") * 10
    curve = {"train_acc": (1 - np.exp(-steps / 100)).astype("<f8").tobytes(),
             "test_acc": (1 - np.exp(-steps / 600)).astype("<f8").tobytes()}
    with session_for(url) as session:
        ensure_phenomena(session=session)
        session.flush()
        phenomena = session.exec(select(Phenomenon).order_by(Phenomenon.id)).all()
        recipes = {p.id: ensure_recipe(session=session, recipe=BuiltinRecipe(builtin="grokking")).id
                   for p in phenomena}
        rows: dict[type, list[dict]] = {t: [] for t in (User, Observation, ObservationVersion,
                                                        ObservationPhenomenon, ObservationTag,
                                                        Run, MetricSeries, Link, Comment)}
        for u in range(1, USERS + 1):
            rows[User].append(dict(id=u, handle=f"user{u:03d}", display_name=f"User {u}",
                                   is_admin=False, created_at=start))
        run_id = series_id = 0
        for i in range(1, observations + 1):
            when = start + timedelta(minutes=i)
            author = rng.randint(1, USERS)
            verdict = rng.choice(VERDICTS)
            phenomenon = phenomena[i % len(phenomena)]
            tags = rng.sample(TAGS, rng.randint(1, 2))
            title = " ".join(rng.choice(WORDS) for _ in range(6)).capitalize()
            notes = " ".join(rng.choice(WORDS) for _ in range(60))
            verified = verdict not in (Verdict.unverified, Verdict.error)
            rows[Observation].append(dict(id=i, author_id=author, latest_version_id=i,
                                          latest_version=1, created_at=when))
            rows[ObservationVersion].append(dict(
                id=i, observation_id=i, version=1, title=title, notes=notes, tags=tags,
                recipe_id=recipes[phenomenon.id], config={"weight_decay": 1.0}, seed=i % 7,
                claims=CLAIMS, environment=None, change_message="", created_at=when,
                verdict=verdict.value, verdict_reason="", verdict_at=when if verified else None,
                pass_rates={c: rng.choice([1.0, 0.75, 0.5]) for c in CLAIMS} if verified else {},
                comparisons=[]))
            rows[ObservationPhenomenon].append(dict(version_id=i, phenomenon_id=phenomenon.id))
            rows[ObservationTag] += [dict(version_id=i, tag=t) for t in tags]
            kinds = [RunKind.author] + [RunKind.verification] * (VERIFICATION_RUNS if verified else 0)
            for k, kind in enumerate(kinds):
                run_id += 1
                claims = [] if kind is RunKind.author else [
                    {"claim": c, "holds": True, "detail": "held", "values": []} for c in CLAIMS]
                rows[Run].append(dict(id=run_id, version_id=i, kind=kind.value, seed=i % 7 + k,
                                      status="ok", log_tail="", claim_results=claims,
                                      created_at=when))
                for name, values in curve.items():
                    series_id += 1
                    rows[MetricSeries].append(dict(id=series_id, run_id=run_id, name=name,
                                                   axis="step", n_points=SERIES_POINTS,
                                                   x=steps.tobytes(), y=values))
        edges = set()
        while len(edges) < min(LINKS, observations * 2):
            source, target = rng.randint(1, observations), rng.randint(1, observations)
            if source != target:
                edges.add((source, target, rng.choice(list(Relation)).value))
        for n, (source, target, relation) in enumerate(sorted(edges), start=1):
            rows[Link].append(dict(id=n, source_version_id=source, relation=relation,
                                   target_version_id=target, target_external="", note="",
                                   author_id=rows[Observation][source - 1]["author_id"],
                                   created_at=start))
        for n in range(1, COMMENTS + 1):
            parent = n - 1 if n > 1 and rng.random() < 0.3 else None
            on = rows[Comment][parent - 1]["observation_id"] if parent else rng.randint(1, observations)
            rows[Comment].append(dict(id=n, observation_id=on, version=1, parent_id=parent,
                                      author_id=rng.randint(1, USERS), created_at=start,
                                      body=f"Comment {n}: " + " ".join(rng.sample(WORDS, 12))))
        for table, values in rows.items():
            for chunk in range(0, len(values), 5_000):
                session.execute(insert(table), values[chunk:chunk + 5_000])


def add_large_observation(url: str) -> str:
    """One observation posted through the service: six series, one of 100,000 points, and
    five verification runs of the same size. Returns its id."""
    steps = list(range(0, 6000, 10))
    fine = np.arange(100_000, dtype=float)
    def metrics(seed: int) -> dict:
        rng = np.random.default_rng(seed)
        short = {name: {"x": steps, "y": rng.random(len(steps)).tolist()}
                 for name in ("train_acc", "test_acc", "train_loss", "test_loss", "weight_norm")}
        return {**short, "grad_norm": {"x": fine.tolist(), "y": rng.random(fine.size).tolist()}}
    with session_for(url) as session:
        author = session.get(User, 1)
        body = ObservationCreate(title="Large: 100,000-point gradient norm", phenomena=["grokking"],
                                 recipe=BuiltinRecipe(builtin="grokking"), seed=0,
                                 metrics=metrics(0), claims=["max(grad_norm) > 0.5"])
        observation, version = create_observation(session=session, author=author, body=body)
        for seed in range(VERIFICATION_RUNS):
            store_run(session=session, version=version, kind=RunKind.verification,
                      run=RunResult(status="ok", seed=seed, metrics=metrics(seed)))
        version.verdict = Verdict.robust.value
        session.add(version)
    return f"T-{observation.id}"


def time_pages(url: str, paths: list[str], repeat: int) -> list[tuple[str, float, float, float, int]]:
    """(path, median wall ms, p90 wall ms, median CPU ms, bytes) per path, after a warm-up.

    CPU time is the whole process's (client and server run in it): on a busy machine
    wall time also counts the time other processes held the CPU, and CPU time does not.
    """
    results = []
    with TestClient(create_app(Settings(database_url=url))) as client:
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            walls, cpus = [], []
            for _ in range(repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                client.get(path)
                cpus.append((time.process_time() - cpu) * 1000)
                walls.append((time.perf_counter() - wall) * 1000)
            walls.sort()
            p90 = walls[min(len(walls) - 1, round(0.9 * (len(walls) - 1)))]
            results.append((path, statistics.median(walls), p90, statistics.median(cpus),
                            len(answer.content)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20, help="requests per page")
    parser.add_argument("--db", type=Path, help="SQLite file to create (default: a temp file)")
    args = parser.parse_args()
    path = args.db or Path(tempfile.mkdtemp(prefix="tycho-bench-")) / "tycho.db"
    if path.exists():
        raise SystemExit(f"{path} exists; the benchmark needs a fresh file")
    url = f"sqlite:///{path}"
    upgrade_database(url)
    began = time.perf_counter()
    fill_registry(url, args.observations)
    large = add_large_observation(url)
    print(f"filled {args.observations:,} observations (+ {large}, the large one) "
          f"in {time.perf_counter() - began:.1f} s -> {path}")
    middle = args.observations // 2
    paths = [
        "/", "/phenomena/grokking", "/phenomena/grokking?cursor=5000",
        "/observations", f"/observations?cursor={middle}", "/observations?q=slingshot",
        "/observations?verdict=fragile", "/observations?tag=width-sweep",
        "/observations?author=user007", "/observations?phenomenon=superposition&verdict=error",
        f"/T-{middle}", f"/T-{middle}v1", f"/{large}", "/users/user007", "/signin",
    ]
    results = time_pages(url, paths, args.repeat)
    one, five, _ = os.getloadavg()
    print(f"{args.repeat} requests per page, in-process (TestClient); load average {one:.1f} / "
          f"{five:.1f} on {os.cpu_count()} CPUs")
    width = max(len(p) for p in paths)
    print(f"\n{'page':<{width}}  {'median ms':>9}  {'p90 ms':>7}  {'CPU ms':>6}  {'KB':>5}")
    for page, median, p90, cpu, size in results:
        flag = "" if median <= BUDGET_MS else "  over budget"
        print(f"{page:<{width}}  {median:>9.1f}  {p90:>7.1f}  {cpu:>6.1f}  {size / 1024:>5.0f}{flag}")


if __name__ == "__main__":
    main()
