"""The verification queue's own overhead, and the end-to-end time of one verification.

1. Queue throughput (SQLite, and Postgres when a URL is given). A real server
   (`python -m tycho.cli serve --no-worker`, subprocess, fresh migrated
   database, TYCHO_VERIFY_SEEDS=0) gets N observations posted over HTTP (each
   queues one job); then 1, 2 and 4 worker threads, each with its own
   `runner.client.Client`, loop claim -> complete as fast as they can. A
   "complete" is the minimal valid JobComplete (one run of the original seed,
   status ok, no series, verdict `reproduced`): NO RECIPE RUNS AND NO SANDBOX
   STARTS, so the figure is the queue and protocol alone (HTTP, auth, the
   atomic claim, the spec in the assignment, storing the result). Afterwards
   every job is checked to be claimed once and completed once (in the workers'
   records and in the database: status done, one attempt, one verification
   run). The worker threads share the 2 CPUs with the server.

2. End to end. A server with the default TYCHO_VERIFY_SEEDS=4 and a real
   `python -m tycho.cli worker` process (started first, idle and polling, as
   a deployed worker is). The built-in `double-descent` is run once locally
   (in the sandbox, default config, seed 0) to get its metrics, then posted
   with its default claims; the clock runs from the POST to the verdict
   appearing in GET /observations/T-n: the worker's poll, 1 + 4 sandboxed
   seeds, and the result. Runs on SQLite by default (`--e2e postgres` to use
   Postgres; the recipe dominates either way).

Run (the benchmark DROPS AND RECREATES the Postgres database; never the test one):

    su postgres -c "createdb -O tycho tycho_bench"     # once
    python -m benchmarks.verification_queue \\
        --postgres-url postgresql://tycho:tycho@127.0.0.1:5432/tycho_bench

or set TYCHO_BENCH_POSTGRES_URL. Takes 1-2 minutes on a quiet 2-core machine, up to
~6 on a busy one (the
end-to-end part is most of it; `--e2e none` skips it). Servers, the worker and
temporary files are removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks import _support as bench

CONCURRENCY = (1, 2, 4)


def small_observation(i: int) -> dict:
    return {
        "title": f"Queue benchmark {i}",
        "phenomena": ["grokking"],
        "tags": ["benchmark"],
        "recipe": {"builtin": "grokking"},
        "seed": i,
        "metrics": {"train_acc": {"x": [0, 100, 200, 300], "y": [0.1, 1.0, 1.0, 1.0]},
                    "test_acc": {"x": [0, 100, 200, 300], "y": [0.01, 0.05, 0.5, 0.99]}},
        "claims": ["final(test_acc) >= 0.95"],
    }


def post_jobs(http: httpx.Client, count: int, offset: int) -> tuple[dict[int, str], float]:
    """Post `count` observations; returns {job id: ref} and the seconds it took."""
    jobs: dict[int, str] = {}
    start = time.perf_counter()
    for i in range(offset, offset + count):
        answer = http.post("/observations", json=small_observation(i))
        assert answer.status_code == 201, answer.text[:500]
        record = answer.json()
        assert record["verification"]["status"] == "queued", record["verification"]
        assert record["verification"]["seeds"] == [i], "TYCHO_VERIFY_SEEDS=0 was not applied"
        jobs[record["verification"]["job"]] = record["id"]
    return jobs, time.perf_counter() - start


class NoOpWorker(threading.Thread):
    """claim -> complete at once, until the queue answers 204."""

    def __init__(self, url: str, token: str, worker_id: str, go: threading.Event) -> None:
        super().__init__(daemon=True)
        from runner.client import Client

        self.client = Client(server=url, token=token)
        self.worker_id = worker_id
        self.go = go
        self.done: list[int] = []
        self.claim_s: list[float] = []
        self.complete_s: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        from runner.spec import JobComplete, RunResult, RunStatus, Verdict

        self.go.wait()
        try:
            while True:
                start = time.perf_counter()
                job = self.client.claim_job(self.worker_id)
                claimed = time.perf_counter()
                if job is None:
                    break
                self.claim_s.append(claimed - start)
                self.client.complete_job(job.job_id, JobComplete(
                    worker_id=self.worker_id,
                    runs=[RunResult(status=RunStatus.ok, seed=job.seeds[0])],
                    verdict=Verdict.reproduced, reason="queue benchmark: no recipe was run"))
                self.complete_s.append(time.perf_counter() - claimed)
                self.done.append(job.job_id)
        except Exception as exc:  # noqa: BLE001 - any failure is reported by the caller
            self.error = exc
        finally:
            self.client.close()


def check_once(database_url: str, jobs: dict[int, str], workers: list[NoOpWorker]) -> str:
    """Every job claimed and completed exactly once, by the workers' account and the DB's."""
    from sqlalchemy import func, select

    from server.db import session_for
    from server.models import Run, VerificationJob

    done = [job for w in workers for job in w.done]
    assert len(done) == len(set(done)), "a job was completed twice"
    assert set(done) == set(jobs), (
        f"never completed: {sorted(set(jobs) - set(done))[:10]}, "
        f"not posted here: {sorted(set(done) - set(jobs))[:10]}")
    with session_for(database_url) as session:
        rows = session.execute(
            select(VerificationJob.id, VerificationJob.status, VerificationJob.attempts)
            .where(VerificationJob.id.in_(list(jobs)))).all()
        runs = dict(session.execute(
            select(Run.job_id, func.count(Run.id)).where(Run.job_id.in_(list(jobs)))
            .group_by(Run.job_id)).all())
    assert len(rows) == len(jobs)
    bad = [(i, s, a) for i, s, a in rows if s != "done" or a != 1 or runs.get(i) != 1]
    assert not bad, f"jobs not done exactly once: {bad[:5]}"
    share = "/".join(str(len(w.done)) for w in workers)
    return f"{len(jobs)} jobs each claimed once and completed once (per worker: {share})"


def queue_backend(label: str, make_db, workdir: Path, args) -> list[list[object]]:
    from server.users.accounts import create_user_with_token, issue_token_for

    bench.banner(f"{label}: queue throughput, {args.jobs} no-op jobs per run")
    database_url = make_db()
    author = create_user_with_token(database_url, handle="author")
    create_user_with_token(database_url, handle="worker")
    worker_token = issue_token_for(database_url, handle="worker", scope="worker")
    rows = []
    database_cpu = bench.DatabaseCpu(database_url)
    with bench.live_server(database_url, workdir, env={"TYCHO_VERIFY_SEEDS": "0"},
                          label=f"{label}-queue-server", source_dir=args.server_dir) as server, \
            httpx.Client(base_url=server.api, timeout=60,
                         headers={"Authorization": f"Bearer {author}"}) as http:
        offset = 0
        for concurrency in args.concurrency:
            jobs, post_s = post_jobs(http, args.jobs, offset)
            offset += args.jobs
            meter_server = server.cpu_seconds()
            meter_database = database_cpu.snapshot()
            go = threading.Event()
            workers = [NoOpWorker(server.url, worker_token, f"bench-{label}-{concurrency}-{k}",
                                  go) for k in range(concurrency)]
            for worker in workers:
                worker.start()
            start = time.perf_counter()
            go.set()
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - start
            server_cpu = server.cpu_seconds() - meter_server
            database_s = bench.DatabaseCpu.used(meter_database, database_cpu.snapshot())
            for worker in workers:
                if worker.error is not None:
                    raise RuntimeError(f"{worker.worker_id} failed: {worker.error!r}")
            bench.note(f"{concurrency} worker(s): {check_once(database_url, jobs, workers)}; "
                       f"{bench.load_line()}")
            claims = [s for w in workers for s in w.claim_s]
            completes = [s for w in workers for s in w.complete_s]
            rows.append([label, concurrency, len(jobs), f"{elapsed:.2f}",
                         f"{len(jobs) / elapsed:.1f}",
                         f"{bench.median_ms(claims):.1f} / {bench.p90_ms(claims):.1f}",
                         f"{bench.median_ms(completes):.1f} / {bench.p90_ms(completes):.1f}",
                         f"{server_cpu * 1000 / len(jobs):.1f}",
                         "-" if database_s is None else f"{database_s * 1000 / len(jobs):.1f}",
                         f"{len(jobs) / post_s:.0f}"])
    database_cpu.close()
    return rows


# --- end to end -----------------------------------------------------------------------------


def local_double_descent() -> tuple[dict, float, float]:
    """One local sandboxed run of the built-in; returns (post body, wall s, recipe wall s)."""
    from runner.local import default_claims, run_locally
    from runner.spec import BuiltinRecipe

    recipe = BuiltinRecipe(builtin="double-descent")
    claims = default_claims(recipe)
    start = time.perf_counter()
    run = run_locally(recipe, {}, 0, claims)
    elapsed = time.perf_counter() - start
    assert run.status.value == "ok", run.error
    failing = [c.claim for c in run.claims if not c.holds]
    assert not failing, f"the local run does not satisfy its own claims: {failing}"
    body = {
        "title": "Double descent at N = n (end-to-end benchmark)",
        "phenomena": ["double-descent"],
        "tags": ["benchmark"],
        "recipe": {"builtin": "double-descent"},
        "config": {},
        "seed": 0,
        "metrics": {n: s.model_dump(mode="json") for n, s in run.metrics.items()},
        "claims": claims,
        "environment": run.environment.model_dump(mode="json") if run.environment else None,
    }
    return body, elapsed, run.wall_time_s or elapsed


def end_to_end(label: str, make_db, workdir: Path, args) -> list[list[object]]:
    from server.users.accounts import create_user_with_token, issue_token_for

    bench.banner(f"{label}: end to end, double-descent with 1 + 4 seeds through `tycho worker`")
    bench.note("one local run first, to get the metrics to post ...")
    body, local_s, local_recipe_s = local_double_descent()
    bench.note(f"local run: {local_s:.1f} s ({local_recipe_s:.1f} s in the recipe); "
               f"{bench.load_line()}")
    database_url = make_db()
    author = create_user_with_token(database_url, handle="author")
    create_user_with_token(database_url, handle="worker")
    worker_token = issue_token_for(database_url, handle="worker", scope="worker")
    with bench.live_server(database_url, workdir, env={"TYCHO_VERIFY_SEEDS": "4"},
                          label=f"{label}-e2e-server") as server, \
            httpx.Client(base_url=server.api, timeout=60,
                         headers={"Authorization": f"Bearer {author}"}) as http, \
            contextlib.ExitStack() as stack:
        worker_log = stack.enter_context(open(workdir / f"{label}-e2e-worker.log", "w"))
        env = {**os.environ, "TYCHO_SERVER": server.url, "TYCHO_TOKEN": worker_token}
        worker = subprocess.Popen(
            [sys.executable, "-m", "tycho.cli", "worker", "--worker-id", "bench-e2e"],
            env=env, stdout=worker_log, stderr=subprocess.STDOUT, cwd=bench.REPO,
            start_new_session=True)  # its own group: stopping it stops its sandboxes too
        try:
            deadline = time.monotonic() + 120
            while "/jobs/claim" not in server.log_path.read_text():
                assert worker.poll() is None, "the worker exited"
                assert time.monotonic() < deadline, "the worker never polled"
                time.sleep(0.2)
            bench.note("worker idle and polling; posting ...")
            start = time.perf_counter()
            answer = http.post("/observations", json=body)
            posted = time.perf_counter() - start
            assert answer.status_code == 201, answer.text[:500]
            ref = answer.json()["id"]
            deadline = time.monotonic() + args.e2e_timeout
            while True:
                record = http.get(f"/observations/{ref}").json()
                if record["verdict"] != "unverified":
                    break
                assert time.monotonic() < deadline, f"no verdict after {args.e2e_timeout} s"
                assert worker.poll() is None, "the worker exited"
                time.sleep(0.25)
            total = time.perf_counter() - start
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(timeout=10)
    runs = [r for r in record["runs"] if r["kind"] == "verification"]
    seeds_s = sum(r["wall_time_s"] or 0 for r in runs)
    seeds_cpu = sum(r["cpu_time_s"] or 0 for r in runs)
    bench.note(f"{ref}: verdict {record['verdict']} ({record['verdict_reason'][:100]})")
    bench.note("verification runs (seed: wall s / CPU s): " + ", ".join(
        f"{r['seed']}: {r['wall_time_s']:.1f} / {r['cpu_time_s'] or 0:.1f}" for r in runs))
    bench.note(bench.load_line())
    return [[label, record["verdict"], len(runs), f"{posted * 1000:.0f} ms", f"{total:.1f}",
             f"{seeds_s:.1f}", f"{seeds_cpu:.1f}", f"{total - seeds_s:.1f}",
             f"{local_recipe_s:.1f}"]]


def main(argv: list[str] | None = None) -> int:
    parser = bench.database_arguments(
        "Verification queue throughput (no-op claim->complete, 1/2/4 workers) on SQLite and "
        "Postgres, and the end-to-end time of one double-descent verification (1 + 4 seeds) "
        "through a real `tycho worker`.",
        server_dir_help="serve the code of this checkout for the throughput part (e.g. a "
        "copy with a fix applied)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both",
                        help="backends of the throughput part")
    parser.add_argument("--jobs", type=int, default=200, help="jobs per run (default 200)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY),
                        help="worker counts (default 1 2 4)")
    parser.add_argument("--e2e", choices=["sqlite", "postgres", "none"], default="sqlite",
                        help="database of the end-to-end run (default sqlite)")
    parser.add_argument("--e2e-timeout", type=float, default=420,
                        help="seconds to wait for the verdict (default 420)")
    args = parser.parse_args(argv)

    pg_url = bench.begin("Tycho queue benchmark", args,
                         args.backend != "sqlite" or args.e2e == "postgres")
    queue_rows, e2e_rows = [], []
    with tempfile.TemporaryDirectory(prefix="tycho-bench-queue-",
                                     ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        found = dict(bench.backends(pg_url, args.force, work))
        for label, make_db in found.items():
            if args.backend in (label, "both"):
                queue_rows += queue_backend(label, make_db, work, args)
        if args.e2e in found:
            e2e_rows += end_to_end(args.e2e, found[args.e2e], work, args)
    bench.results(
        "queue throughput: no-op claim -> complete (no recipe, no sandbox: the queue and its "
        "HTTP protocol only)",
        ["db", "workers", "jobs", "seconds", "jobs/s", "claim ms med/p90",
         "complete ms med/p90", "server CPU ms/job", "pg CPU ms/job", "posts/s"], queue_rows,
        "server CPU: user+system time of the server process per job (claim + complete; on "
        "SQLite it\nincludes the database work); pg CPU: of the Postgres backends. posts/s: "
        "the POSTs that queued\nthe jobs, one at a time.")
    if e2e_rows:
        bench.results(
            "end to end: POST -> verdict, double-descent, 1 + 4 seeds, one `tycho worker` "
            "(sandboxed runs, one at a time)",
            ["db", "verdict", "runs", "POST", "POST->verdict s", "runs' wall s", "runs' CPU s",
             "other s", "one local run s"], e2e_rows,
            "runs' wall/CPU: summed over the 5 sandboxed runs as the worker recorded them; "
            "other: the\nworker's poll, the claim, starting the sandboxes' bookkeeping and the "
            "result (total - runs' wall).")
    return bench.done()


if __name__ == "__main__":
    sys.exit(main())
