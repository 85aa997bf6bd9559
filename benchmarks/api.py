"""API latency of a real Tycho server over loopback, on SQLite and on Postgres.

What is measured, per backend, against `python -m tycho.cli serve --no-worker`
started as a subprocess on a fresh, migrated database (one uvicorn process,
as `tycho serve` runs it), with one persistent httpx client:

- POST /observations with 20 series of 5,000 points each (~4 MB of JSON; the
  body is encoded before the clock starts, so the figure is the HTTP round
  trip: upload, validation, storage, the record in the answer). Afterwards
  (untimed) every post is checked to be stored exactly once, and the series
  of one of them to come back from /metrics bit for bit.
- GET /observations/T-n (the record) and GET /observations/T-n/metrics (the
  100,000 points) of such an observation.
- GET /observations?...&limit=50: a page of 50, unfiltered and filtered by
  phenomenon, tag, verdict and text query, at 1,000, 10,000 and 100,000
  observations (`--sizes`): a list should cost the same at any size.

Each POST and GET is set against its physical floor, measured in the same run
on the same backend, and printed as a multiple of it: the round trip of the
cheapest request this server answers (GET /health: HTTP over loopback through
uvicorn and the app; moving the megabytes of a large body over loopback is not
in it), plus, for the POST, orjson
decoding the body, the series as float64 bytes and one write of them as a
BLOB (bytea) row, committed; for GET metrics, one read of such a row and
orjson encoding the 100,000 points; for GET record, one row read and orjson
encoding the record. A GET and its floor are timed side by side, request by
request (a /health round trip, the floor's row read, the GET), so that both
see the same machine.

The observations are written straight into the database (not by HTTP posts): by default as multi-row INSERTs of the
rows `server.observations.store.create_observation` writes (each body validated as
`ObservationCreate` first; a few seconds), or with `--fill service` through
`create_observation` itself in one session, committed in batches (~100/s on a
busy 2-core machine: the ORM's per-row flushes). 20 authors, 8 phenomena
(grokking the most common), 12 tags, small metrics (3 series of 40 points),
varied verdicts, a few withdrawn; on Postgres the tables are ANALYZEd after.

Targets (a 2-core machine), against the median: POST <= 2x its floor, GET <=
1.5x its floor, every list <= 15 ms at 100,000 observations. The machine's load average is printed with the
figures: on a busy machine every round trip grows, so each row also shows the
CPU time one request costs, which the load does not change: of the server
process (on SQLite the database work is in it) and of the Postgres backends
serving the benchmark database (from pg_stat_activity and /proc).

`--server-dir DIR` serves another checkout's code (e.g. a copy with a fix
applied) against the same data, for before/after figures.

Run (Postgres is skipped with a note unless a URL is given; the benchmark
DROPS AND RECREATES that database, so never point it at the test database):

    su postgres -c "createdb -O tycho tycho_bench"     # once
    python -m benchmarks.api \\
        --postgres-url postgresql://tycho:tycho@127.0.0.1:5432/tycho_bench

or set TYCHO_BENCH_POSTGRES_URL. `--backend sqlite` runs one backend only.
Takes 1-5 minutes (more on a busy machine); the servers and temporary files are
removed at the end.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from benchmarks import _support as bench

SIZES = (1_000, 10_000, 100_000)
POST_SERIES, POST_POINTS = 20, 5_000
# POST and GET as multiples of their floor; a list in ms at the largest size.
TARGET_FLOOR_RATIO = {"post": 2.0, "get": 1.5}
TARGET_LIST_MS = 15

PHENOMENA = ["grokking", "double-descent", "edge-of-stability", "superposition",
             "neural-scaling", "emergence", "loss-parameterization", "feature-learning"]
PHENOMENON_WEIGHTS = [30, 15, 12, 12, 10, 8, 7, 6]
TAGS = ["mlp", "transformer", "adamw", "sgd", "weight-decay", "sweep", "modular-arithmetic",
        "relu", "cpu", "small-init", "long-run", "ablation"]
VERDICTS = ["unverified", "reproduced", "robust", "fragile", "not-reproduced", "error",
            "unverifiable"]
VERDICT_WEIGHTS = [30, 20, 25, 10, 8, 5, 2]
TITLE_WORDS = ["loss", "plateau", "spike", "width", "depth", "learning-rate", "warmup",
               "phase", "transition", "memorisation", "generalisation", "norm", "features",
               "curve", "threshold", "scaling", "noise", "batch", "regularisation"]
# The text query: about 4% of titles carry this word.
QUERY_WORD = "sharpness"

COLUMNS = ["db", "request", "response/body", "n", "median", "p90", "floor", "x floor",
           "server CPU", "pg CPU", "target", "vs target"]
EXPLANATION = """
floor: the least any server could do (module docstring), measured here, on this backend;
server CPU: user+system time of the server process (on SQLite it includes the database work);
pg CPU: of the Postgres backends serving the benchmark database. A busy machine inflates
the round trips (processes wait for a CPU); the CPU columns are what a request costs
whatever the load."""

LISTS = [
    ("list 50, no filter", {"limit": 50}),
    ("list 50, ?phenomenon=grokking", {"phenomenon": "grokking", "limit": 50}),
    ("list 50, ?phenomenon=feature-learning", {"phenomenon": "feature-learning", "limit": 50}),
    ("list 50, ?tag=weight-decay", {"tag": "weight-decay", "limit": 50}),
    ("list 50, ?verdict=fragile", {"verdict": "fragile", "limit": 50}),
    ("list 50, ?q=" + QUERY_WORD, {"q": QUERY_WORD, "limit": 50}),
    ("list 50, ?phenomenon=grokking&verdict=robust",
     {"phenomenon": "grokking", "verdict": "robust", "limit": 50}),
]


# --- filling the registry ---------------------------------------------------------------


def small_body(rng: random.Random, i: int) -> tuple[dict, str]:
    """A realistic small observation (and the verdict it is given)."""
    phenomenon = rng.choices(PHENOMENA, PHENOMENON_WEIGHTS)[0]
    phenomena = [phenomenon] + ([rng.choice(PHENOMENA)] if rng.random() < 0.15 else [])
    words = rng.sample(TITLE_WORDS, 3)
    if rng.random() < 0.04:
        words[1] = QUERY_WORD
    steps = [10 * k for k in range(40)]
    loss = [2.5 * (0.9 ** k) + rng.random() * 0.01 for k in range(40)]
    acc = [min(1.0, k / 30 + rng.random() * 0.05) for k in range(40)]
    body = {
        "title": f"{phenomenon.replace('-', ' ').capitalize()}: {' '.join(words)} (#{i})",
        "phenomena": list(dict.fromkeys(phenomena)),
        "tags": rng.sample(TAGS, rng.randint(1, 3)),
        "notes": "Seen while sweeping the " + rng.choice(TITLE_WORDS) + "; see the plots.",
        "recipe": {"builtin": phenomenon},
        "config": {"lr": rng.choice([1e-3, 3e-3, 1e-2]), "width": rng.choice([32, 64, 128])},
        "seed": rng.randrange(1000),
        "metrics": {"train_loss": {"x": steps, "y": loss}, "test_loss": {"x": steps, "y": loss},
                    "test_acc": {"x": steps, "y": acc}},
        "claims": ["final(train_loss) < initial(train_loss)", "max(test_acc) >= 0.5"],
    }
    return body, rng.choices(VERDICTS, VERDICT_WEIGHTS)[0]


def _service_fill(session, rng, authors, first: int, count: int, batch: int) -> int:
    """Through `create_observation`, one session, a commit every `batch`. Returns commits."""
    from runner.spec import ObservationCreate
    from server.observations.store import create_observation

    commits = 0
    for i in range(first, first + count):
        body, verdict = small_body(rng, i)
        _, version = create_observation(session=session, author=rng.choice(authors),
                                        body=ObservationCreate.model_validate(body))
        version.verdict = verdict
        if (i + 1) % batch == 0:
            session.commit()
            session.expunge_all()
            commits += 1
    session.commit()
    return commits + 1


def _bulk_fill(session, rng, authors, first: int, count: int, batch: int) -> int:
    """Multi-row INSERTs of the same rows `create_observation` writes. Returns commits.

    Ids are given explicitly (continuing after the largest existing one); on
    Postgres the id sequences are moved past them afterwards, so that the
    server's own inserts do not collide.
    """
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, insert, select, text

    from runner.spec import BuiltinRecipe, ObservationCreate
    from server.models import (MetricSeries, Observation, ObservationPhenomenon,
                               ObservationTag, ObservationVersion, Phenomenon, Run)
    from server.observations.store import ensure_recipe

    phenomenon_ids = dict(session.execute(select(Phenomenon.slug, Phenomenon.id)).all())
    recipe_ids = {slug: ensure_recipe(session=session, recipe=BuiltinRecipe(builtin=slug)).id
                  for slug in PHENOMENA}
    session.commit()

    def next_id(model) -> int:
        return (session.execute(select(func.max(model.id))).scalar() or 0) + 1

    obs_id, version_id, run_id, series_id = (next_id(Observation), next_id(ObservationVersion),
                                             next_id(Run), next_id(MetricSeries))
    start = datetime.now(UTC) - timedelta(days=365)
    commits = 0
    for chunk in range(first, first + count, batch):
        rows: dict[str, list[dict]] = {"obs": [], "ver": [], "phen": [], "tag": [], "run": [],
                                       "series": []}
        for i in range(chunk, min(chunk + batch, first + count)):
            raw, verdict = small_body(rng, i)
            body = ObservationCreate.model_validate(raw)  # the same validation as a post
            created = start + timedelta(minutes=50 * i)
            author = rng.choice(authors)
            withdrawn = created if rng.random() < 0.005 else None
            rows["obs"].append({"id": obs_id, "author_id": author.id, "latest_version_id": version_id,
                                    "latest_version": 1, "created_at": created, "withdrawn_at": withdrawn,
                                    "withdrawn_reason": "duplicate" if withdrawn else None})
            rows["ver"].append({
                "id": version_id, "observation_id": obs_id, "version": 1, "title": body.title,
                "notes": body.notes, "tags": body.tags, "recipe_id": recipe_ids[body.recipe.builtin],
                "config": body.config, "seed": body.seed, "claims": body.claims, "environment": None,
                "change_message": "", "created_at": created, "verdict": verdict,
                "verdict_reason": "" if verdict == "unverified" else "benchmark fill",
                "verdict_at": None if verdict == "unverified" else created + timedelta(minutes=5),
                "pass_rates": {} if verdict == "unverified" else {c: 1.0 for c in body.claims},
                "comparisons": []})
            rows["phen"] += [{"version_id": version_id, "phenomenon_id": phenomenon_ids[slug],
                              "observation_id": obs_id} for slug in body.phenomena]
            rows["tag"] += [{"version_id": version_id, "tag": tag, "observation_id": obs_id}
                            for tag in body.tags]
            rows["run"].append({
                "id": run_id, "version_id": version_id, "kind": "author", "seed": body.seed, "status": "ok",
                "job_id": None, "worker_id": None, "environment": None, "wall_time_s": None,
                "cpu_time_s": None, "peak_memory_mb": None, "network_isolated": None, "error": None,
                "log_tail": "", "claim_results": [], "created_at": created})
            for name, series in body.metrics.items():
                rows["series"].append({
                    "id": series_id, "run_id": run_id, "name": name, "axis": series.axis,
                    "n_points": len(series.x), "x": MetricSeries.pack(series.x),
                    "y": MetricSeries.pack(series.y)})
                series_id += 1
            obs_id, version_id, run_id = obs_id + 1, version_id + 1, run_id + 1
        # Parents first: observation_version refers to observation, and so on.
        for model, key in [(Observation, "obs"), (ObservationVersion, "ver"),
                           (ObservationPhenomenon, "phen"), (ObservationTag, "tag"),
                           (Run, "run"), (MetricSeries, "series")]:
            session.execute(insert(model.__table__), rows[key])
        session.commit()
        commits += 1
    if session.get_bind().dialect.name == "postgresql":
        for table in ("observation", "observation_version", "run", "metric_series"):
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT MAX(id) FROM {table}))"))
        session.execute(text("ANALYZE"))
        session.commit()
    return commits


def fill(database_url: str, first: int, count: int, how: str = "bulk",
         batch: int = 1000) -> tuple[float, int]:
    """Observations `first` .. `first + count - 1`, by 20 authors (the same whatever the
    steps the registry is filled in). Returns (seconds, commits)."""
    from sqlmodel import select

    from server.db import session_for
    from server.initial_data import ensure_phenomena
    from server.models import User

    rng = random.Random(20240601 + first)
    start = time.perf_counter()
    with session_for(database_url) as session:
        ensure_phenomena(session=session)
        handles = [f"author-{k}" for k in range(20)]
        authors = session.exec(select(User).where(User.handle.in_(handles))).all()
        if not authors:
            authors = [User(handle=h, display_name=h.title()) for h in handles]
            session.add_all(authors)
            session.commit()
        filler = _bulk_fill if how == "bulk" else _service_fill
        commits = filler(session, rng, authors, first, count, batch)
    return time.perf_counter() - start, commits


# --- the large post ---------------------------------------------------------------------


def big_body(rng: random.Random) -> dict:
    """20 series of 5,000 points: integer steps, float64 values (as a trainer logs them)."""
    steps = list(range(0, POST_POINTS * 10, 10))
    metrics = {}
    for k in range(POST_SERIES):
        scale = rng.uniform(0.5, 3.0)
        metrics[f"probe_{k:02d}"] = {
            "x": steps,
            "y": [scale / (1 + j / 500) + rng.gauss(0, 0.01) for j in range(POST_POINTS)],
        }
    return {
        "title": "",
        "phenomena": ["grokking"],
        "tags": ["long-run", "sweep"],
        "notes": "A long run with many probes.",
        "recipe": {"builtin": "grokking"},
        "config": {"steps": POST_POINTS * 10},
        "seed": 7,
        "metrics": metrics,
        "claims": ["final(probe_00) < initial(probe_00)", "min(probe_19) > 0"],
    }


def check_posts(database_url: str, titles: list[str], refs: list[str]) -> str:
    """Every post stored once: one observation, one author run, 20 series each."""
    from sqlalchemy import func, select

    from server.db import session_for
    from server.models import MetricSeries, ObservationVersion, Run

    assert len(set(refs)) == len(refs), f"two posts got the same id: {refs}"
    with session_for(database_url) as session:
        versions = session.execute(
            select(ObservationVersion.title, func.count()).where(
                ObservationVersion.title.in_(titles)).group_by(ObservationVersion.title)
        ).all()
        counts = dict(versions)
        assert all(counts.get(t) == 1 for t in titles), f"not stored exactly once: {counts}"
        runs = session.execute(
            select(func.count(Run.id)).join(ObservationVersion,
                                             ObservationVersion.id == Run.version_id)
            .where(ObservationVersion.title.in_(titles))).scalar_one()
        series = session.execute(
            select(func.count(MetricSeries.id)).join(Run, Run.id == MetricSeries.run_id)
            .join(ObservationVersion, ObservationVersion.id == Run.version_id)
            .where(ObservationVersion.title.in_(titles))).scalar_one()
    assert runs == len(titles), f"{runs} author runs for {len(titles)} posts"
    assert series == POST_SERIES * len(titles), f"{series} series for {len(titles)} posts"
    return f"{len(titles)} posts -> {len(titles)} observations, {runs} runs, {series} series"


# --- the floor ------------------------------------------------------------------------


class Floor:
    """The least any server could do for a request, on the same backend: orjson, numpy
    and one row written or read (see the module docstring)."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import LargeBinary, text

        from server.db import make_engine

        self.engine = make_engine(database_url)
        self.blob = LargeBinary
        with self.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS bench_floor"))
            # SERIAL on Postgres: an INTEGER key numbers itself only on SQLite (the rowid).
            connection.execute(text(f"CREATE TABLE bench_floor (id {'SERIAL' if self.postgres else 'INTEGER'} "
                                    f"PRIMARY KEY, body {'BYTEA' if self.postgres else 'BLOB'})"))

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _write(self, blob: bytes) -> int:
        from sqlalchemy import bindparam, text

        with self.engine.begin() as connection:
            statement = text("INSERT INTO bench_floor (body) VALUES (:body) RETURNING id")
            return connection.execute(statement.bindparams(bindparam("body", type_=self.blob)),
                                      {"body": blob}).scalar_one()

    def _read(self, row: int) -> bytes:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return connection.execute(text("SELECT body FROM bench_floor WHERE id = :id"),
                                      {"id": row}).scalar_one()

    def post(self, payload: bytes) -> None:
        import numpy as np

        body = orjson.loads(payload)
        self._write(b"".join(np.asarray(s["x"], "<f8").tobytes() + np.asarray(s["y"], "<f8")
                             .tobytes() for s in body["metrics"].values()))

    def get_metrics(self, row: int, names: list[str]) -> bytes:
        import numpy as np

        data = np.frombuffer(self._read(row), "<f8").reshape(len(names), 2, -1)
        return orjson.dumps({name: {"x": d[0], "y": d[1], "axis": "step"}
                             for name, d in zip(names, data)},
                            option=orjson.OPT_SERIALIZE_NUMPY)

    def get_record(self, row: int) -> bytes:
        return orjson.dumps(orjson.loads(self._read(row)))

    def close(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as connection:
            connection.execute(text("DROP TABLE bench_floor"))
        self.engine.dispose()


# --- one backend ------------------------------------------------------------------------


class CpuMeter:
    """Server-process CPU and Postgres-backend CPU used over a stretch of requests."""

    def __init__(self, server, database: bench.DatabaseCpu) -> None:
        self.server, self.database = server, database

    def start(self) -> None:
        self.server_start = self.server.cpu_seconds()
        self.database_start = self.database.snapshot()

    def stop(self) -> tuple[float, float | None]:
        server = self.server.cpu_seconds() - self.server_start
        return server, bench.DatabaseCpu.used(self.database_start, self.database.snapshot())


def _request_row(label: str, name: str, size: str, samples: list[float],
                 cpu: tuple[float, float | None], floor: list[float], target: float) -> list:
    median, floor_ms = bench.median_ms(samples), bench.median_ms(floor)
    server_s, database_s = cpu
    per = len(samples) / 1000
    ratio = median / floor_ms
    return [label, name, size, len(samples), f"{median:.1f}", f"{bench.p90_ms(samples):.1f}",
            f"{floor_ms:.1f}", f"{ratio:.2f}x", f"{server_s / per:.1f}",
            "-" if database_s is None else f"{database_s / per:.1f}", f"{target:g}x",
            "ok" if ratio <= target else "MISS"]


def measure_requests(label: str, http: httpx.Client, meter: CpuMeter, floor: Floor,
                     database_url: str, args) -> list[list[object]]:
    """The large POST and the two GETs of what it stored, each against its floor."""
    rows: list[list[object]] = []
    template = big_body(random.Random(1))
    titles: list[str] = []
    refs: list[str] = []
    post_samples: list[float] = []
    size = 0
    for i in range(args.posts + 1):  # the first one warms the server up
        if i == 1:
            meter.start()
        body = dict(template, title=f"Long run {label} #{i}")
        payload = orjson.dumps(body)
        size = len(payload)
        start = time.perf_counter()
        answer = http.post("/observations", content=payload,
                           headers={"Content-Type": "application/json"})
        elapsed = time.perf_counter() - start
        assert answer.status_code == 201, answer.text[:500]
        titles.append(body["title"])
        refs.append(answer.json()["id"])
        if i:
            post_samples.append(elapsed)
    cpu = meter.stop()
    http_floor = bench.median_ms(bench.timed(lambda: http.get("/health"), args.gets)) / 1000
    floor_post = [http_floor + t for t in bench.timed(lambda: floor.post(payload), args.posts)]
    rows.append(_request_row(label, f"POST observation ({POST_SERIES} x {POST_POINTS:,} points)",
                             f"{size / 1e6:.1f} MB", post_samples, cpu, floor_post,
                             TARGET_FLOOR_RATIO["post"]))
    bench.note(check_posts(database_url, titles, refs))

    ref = refs[-1]
    got = orjson.loads(http.get(f"/observations/{ref}/metrics").content)
    assert got == {n: {"x": [float(v) for v in s["x"]], "y": s["y"], "axis": "step"}
                   for n, s in template["metrics"].items()}, "metrics did not round-trip"
    bench.note(f"{ref}: the {POST_SERIES} x {POST_POINTS:,} points came back from "
               "/metrics exactly")
    import numpy as np

    names = list(template["metrics"])
    series_row = floor._write(b"".join(
        np.asarray(s["x"], "<f8").tobytes() + np.asarray(s["y"], "<f8").tobytes()
        for s in template["metrics"].values()))
    record_row = floor._write(http.get(f"/observations/{ref}").content)
    for name, path, floor_call in (
            (f"GET record {ref}", f"/observations/{ref}", lambda: floor.get_record(record_row)),
            (f"GET metrics {ref} (100k points)", f"/observations/{ref}/metrics",
             lambda: floor.get_metrics(series_row, names))):
        page = http.get(path)
        assert page.status_code == 200, page.text[:300]

        def call() -> None:
            assert http.get(path).status_code == 200

        call()
        meter.start()
        bench.timed(call, args.gets, warmup=0)
        cpu = meter.stop()
        # The figure and its floor side by side, request by request (a GET takes a few
        # milliseconds, and a floor measured a minute apart moves by as much).
        samples, floors = [], []
        for _ in range(args.gets):
            [health], [row], [request] = (bench.timed(f, 1, warmup=0) for f in (
                lambda: http.get("/health"), floor_call, call))
            samples.append(request)
            floors.append(health + row)
        rows.append(_request_row(label, name, f"{len(page.content) / 1e3:,.1f} kB", samples,
                                 cpu, floors, TARGET_FLOOR_RATIO["get"]))
    return rows


def measure_lists(http: httpx.Client, repeat: int) -> dict[str, float]:
    """The median round trip (ms) of each list."""
    medians = {}
    for name, params in LISTS:
        def call() -> None:
            answer = http.get("/observations", params=params)
            assert answer.status_code == 200, answer.text[:300]

        medians[name] = bench.median_ms(bench.timed(call, repeat, warmup=2))
    return medians


def run_backend(label: str, make_db, workdir: Path,
                args) -> tuple[list[list[object]], list[list[object]]]:
    database_url = make_db()
    from server.users.accounts import create_user_with_token

    token = create_user_with_token(database_url, handle="bencher")
    database_cpu = bench.DatabaseCpu(database_url)
    floor = Floor(database_url)
    list_rows: dict[str, list[object]] = {name: [label, name] for name, _ in LISTS}
    with bench.live_server(database_url, workdir, label=f"{label}-server",
                           source_dir=args.server_dir) as server, \
            httpx.Client(base_url=server.api, timeout=120,
                         headers={"Authorization": f"Bearer {token}"}) as http:
        bench.note(f"server {server.url} (log {server.log_path.name}); {bench.load_line()}")
        meter = CpuMeter(server, database_cpu)
        request_rows = measure_requests(label, http, meter, floor, database_url, args)
        filled = 0
        for size in args.sizes:
            seconds, commits = fill(database_url, filled, size - filled, how=args.fill)
            bench.note(f"{label}: {size:,} observations (+{size - filled:,} in {seconds:.1f} s, "
                       f"{commits} commits); {bench.load_line()}")
            filled = size
            for name, median in measure_lists(http, args.lists).items():
                list_rows[name].append(f"{median:.1f}")
    floor.close()
    database_cpu.close()
    lists = []
    for row in list_rows.values():
        largest = float(row[-1])
        lists.append(row + [TARGET_LIST_MS, "ok" if largest <= TARGET_LIST_MS else "MISS"])
    return request_rows, lists


def main(argv: list[str] | None = None) -> int:
    parser = bench.database_arguments(
        "API latency of a real Tycho server (POST, GET against their floor; lists at three "
        "registry sizes) on SQLite and Postgres.",
        server_dir_help="serve the code of this checkout instead (e.g. a copy with a fix "
        "applied); the database is migrated by the code in this one")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                        help="registry sizes at which the lists are timed, increasing "
                        "(default 1,000 10,000 100,000)")
    parser.add_argument("--fill", choices=["bulk", "service"], default="bulk",
                        help="how the observations are written: multi-row INSERTs of the rows "
                        "the service writes (default, seconds), or create_observation one by "
                        "one in batched commits (about 100/s on a busy 2-core machine)")
    parser.add_argument("--posts", type=int, default=15, help="timed large posts (default 15)")
    parser.add_argument("--gets", type=int, default=30, help="timed GETs each (default 30)")
    parser.add_argument("--lists", type=int, default=30, help="timed lists each (default 30)")
    args = parser.parse_args(argv)

    pg_url = bench.begin("Tycho API benchmark", args, args.backend in ("postgres", "both"))
    requests: list[list[object]] = []
    lists: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="tycho-bench-api-", ignore_cleanup_errors=True) as tmp:
        for label, make_db in bench.backends(pg_url, args.force, Path(tmp)):
            if args.backend not in (label, "both"):
                continue
            more_requests, more_lists = run_backend(label, make_db, Path(tmp), args)
            requests += more_requests
            lists += more_lists
    bench.results("requests, ms: median and p90 of the round trip over loopback, its floor and "
                  "the ratio; CPU per request", COLUMNS, requests, EXPLANATION)
    bench.results("lists of 50, ms: median round trip by registry size",
                  ["db", "list"] + [f"{n:,}" for n in args.sizes] + ["target", "vs target"],
                  lists, f"\ntarget: every list <= {TARGET_LIST_MS} ms at the largest size.")
    return bench.done()


if __name__ == "__main__":
    sys.exit(main())
