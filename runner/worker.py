"""The verification worker: claim a job over HTTP, re-run it in the sandbox, report back.

The same loop serves the worker `tycho serve` starts beside the server and a
volunteer's `tycho worker` on another machine. A job's seeds run in up to
`parallel` sandboxes at once (`runner.reproduce`). A heartbeat thread keeps the
lease alive while they run and reports how far each seed is; SIGTERM stops
claiming and hands the current job back.
"""

from __future__ import annotations

import ctypes
import logging
import os
import random
import signal
import socket
import sys
import threading
import time

from runner.client import Client, TychoError
from runner.execute import Limits
from runner.progress import ProgressTracker, expected_steps
from runner.reproduce import Stopped, reproduce
from runner.spec import JobAssignment, JobComplete
from runner.compare import Judgement
from runner.spec import Verdict
from runner.sweep import SweepError, run_cells, verify_sweep
from runner.sweep_verdict import cell_name

log = logging.getLogger("tycho.worker")

# How often an idle worker asks for work (seconds), with jitter so that many
# workers do not poll in lock-step.
POLL_SECONDS = 1.0


# Tries to deliver a finished result when the registry is briefly unreachable
# (1 + 2 + 4 + 8 s of back-off: within the default 120 s lease).
REPORT_ATTEMPTS = 5
# How often a running job's progress goes to the registry (each report also
# extends the lease): often enough for a page that refreshes itself.
PROGRESS_SECONDS = 3.0


def _transient(error: TychoError) -> bool:
    """Unreachable or a server fault: worth retrying. A 4xx answer is final."""
    return error.status == 0 or error.status >= 500


PR_SET_DUMPABLE = 4  # linux/prctl.h


def protect_worker_process() -> None:
    """Make this process non-dumpable, so that other processes of the same uid (a
    recipe, where the sandbox cannot switch uid) can neither read its memory nor
    /proc/<pid>/environ, where the worker token is. Linux only; a no-op elsewhere."""
    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0)
    except (OSError, AttributeError):
        log.warning("could not make the worker non-dumpable")


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    def __init__(self, client: Client, *, worker_id: str | None = None, threads: int | None = None,
                 parallel: int = 1, limits: Limits | None = None,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.client = client
        self.worker_id = worker_id or default_worker_id()
        self.threads = threads
        self.parallel = max(1, parallel)
        self.limits = limits or Limits()
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run_forever(self, *, once: bool = False) -> int:
        """Work until stopped (or, with once, after one job or none queued); returns the
        number of jobs whose results were recorded."""
        done = 0
        while not self.stopping.is_set():
            try:
                job = self.client.claim_job(self.worker_id)
            except TychoError as exc:
                log.warning("claim failed: %s", exc)
                job = None
                if exc.status in (401, 403):
                    raise
            if job is None:
                if once:
                    break
                self.stopping.wait(self.poll_seconds * (0.5 + random.random()))
                continue
            done += self.work_on(job)
            if once:
                break
        return done

    def work_on(self, job: JobAssignment) -> bool:
        """Run one job and report it; True when its result was recorded."""
        log.info("claimed job %s (%s, seeds %s)", job.job_id, job.observation, job.seeds)
        cancelled = threading.Event()
        heartbeat_done = threading.Event()
        tracker = ProgressTracker(job.seeds, expected_steps=expected_steps(job.spec.metrics),
                                  parallel=self.parallel)
        beater = threading.Thread(
            target=self._heartbeat, args=(job, tracker, cancelled, heartbeat_done), daemon=True
        )
        beater.start()
        should_stop = lambda: self.stopping.is_set() or cancelled.is_set()  # noqa: E731
        try:
            if job.purpose == "sweep":
                runs, judgement = self._run_sweep_cells(job, tracker, should_stop)
            elif job.spec.sweep is not None:
                runs, judgement = self._verify_sweep(job, tracker, should_stop)
            else:
                result = reproduce(
                    job.spec, job.seeds, threads=self.threads, limits=self.limits,
                    parallel=self.parallel, tracker=tracker, should_stop=should_stop,
                )
                runs, judgement = result.runs, result.judgement
        except Stopped:
            heartbeat_done.set()
            if not cancelled.is_set():
                log.info("handing job %s back (worker stopping)", job.job_id)
                self._quietly(self.client.release_job, job.job_id, self.worker_id)
            return False
        except Exception as exc:  # a bug here must not kill the worker
            heartbeat_done.set()
            log.exception("job %s failed", job.job_id)
            self._quietly(self.client.fail_job, job.job_id, self.worker_id, f"worker error: {exc!r}")
            return False
        heartbeat_done.set()
        result_body = JobComplete(
            worker_id=self.worker_id, runs=runs, comparisons=judgement.comparisons,
            verdict=judgement.verdict, reason=judgement.reason, pass_rates=judgement.pass_rates,
        )
        for attempt in range(REPORT_ATTEMPTS):
            try:
                self.client.complete_job(job.job_id, result_body)
                log.info("finished job %s (%s): %s", job.job_id, job.observation,
                         judgement.verdict.value)
                return True
            except TychoError as exc:
                if _transient(exc) and attempt < REPORT_ATTEMPTS - 1:
                    log.info("registry unreachable (%s); retrying the result", exc.detail)
                    time.sleep(2 ** attempt)
                    continue
                log.warning("result for job %s refused: %s", job.job_id, exc.detail)
                if exc.status != 409:  # 409: the job is no longer ours to report on
                    # Say what really happened, rather than let the lease lapse.
                    self._quietly(self.client.fail_job, job.job_id, self.worker_id,
                                  f"the registry refused the result ({exc})")
                return False
        return False

    def _run_sweep_cells(self, job: JobAssignment, tracker: ProgressTracker, should_stop):
        """A cell of a sweep its author runs on the workers: the runs, no verdict."""
        tracker.started(job.seeds)
        runs = []
        run_cells(job.spec.recipe, job.spec.config, [(cell, job.seeds) for cell in job.cells],
                  parallel=self.parallel, threads=self.threads or 1, limits=self.limits,
                  on_run=runs.append, should_stop=should_stop)
        if should_stop() or len(runs) < len(job.cells) * len(job.seeds):
            raise Stopped(f"stopped during {job.observation}")
        for run in runs:
            tracker.finished(run.seed, run.status.value == "ok")
        order = {(cell_name(cell), seed): i for i, (cell, seed) in
                 enumerate((c, s) for c in job.cells for s in job.seeds)}
        runs.sort(key=lambda run: order[(cell_name(run.cell or {}), run.seed)])
        return runs, Judgement(verdict=Verdict.unverified, reason="a sweep's cell, run")

    def _verify_sweep(self, job: JobAssignment, tracker: ProgressTracker, should_stop):
        """A sweep's job: its sample of cells on the fresh seed(s), judged as a sweep."""
        tracker.started(job.seeds)

        def on_run(run, done: int, total: int) -> None:
            tracker.progress(job.seeds[0], done, total)

        try:
            runs, judgement = verify_sweep(job.spec, job.cells, job.seeds, parallel=self.parallel,
                                           threads=self.threads, limits=self.limits,
                                           on_run=on_run, should_stop=should_stop)
        except SweepError as exc:
            if should_stop():
                raise Stopped(str(exc)) from None
            raise
        for seed in job.seeds:
            tracker.finished(seed, any(run.status.value == "ok" for run in runs))
        return runs, judgement

    def _heartbeat(self, job: JobAssignment, tracker: ProgressTracker,
                   cancelled: threading.Event, heartbeat_done: threading.Event) -> None:
        interval = min(max(job.lease_seconds / 3, 1.0), PROGRESS_SECONDS)
        while not heartbeat_done.wait(interval):
            try:
                reply = self.client.heartbeat(job.job_id, self.worker_id, tracker.snapshot())
            except TychoError as exc:
                if _transient(exc):  # a blip: the lease has time left, try again
                    log.warning("heartbeat for job %s failed: %s", job.job_id, exc.detail)
                    continue
                log.warning("heartbeat for job %s refused: %s", job.job_id, exc.detail)
                cancelled.set()
                return
            if reply.get("cancelled"):
                cancelled.set()
                return

    @staticmethod
    def _quietly(call, *args) -> None:
        try:
            call(*args)
        except TychoError as exc:
            log.warning("%s", exc)


def run_workers(client_factory, *, concurrency: int = 1, once: bool = False,
                **options) -> int:
    """Run `concurrency` workers in threads until SIGTERM/SIGINT; returns jobs done.

    A worker that cannot go on (its token was refused) stops the others, and the
    error is raised here, so `tycho worker` exits non-zero rather than quietly.
    """
    protect_worker_process()
    workers = [Worker(client_factory(), **options) for _ in range(concurrency)]
    if concurrency > 1:
        for i, worker in enumerate(workers):
            worker.worker_id = f"{worker.worker_id}-{i}"

    def stop_all(signum=None, _frame=None) -> None:
        if signum is not None:
            log.info("signal %s: handing back current jobs", signum)
        for worker in workers:
            worker.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop_all)
        signal.signal(signal.SIGINT, stop_all)
    done = [0] * concurrency
    failures: list[BaseException] = []

    def work(i: int) -> None:
        try:
            done[i] = workers[i].run_forever(once=once)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            failures.append(exc)
            stop_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return sum(done)
