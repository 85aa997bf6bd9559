"""Run a recipe in a sandboxed child process and return its RunResult.

Every recipe, built-in or submitted, runs in `python -m runner._child`, never in
the caller (docs/design.md, "Executing code safely"). This module is the parent's
side; `runner._child` is the child's. The child gets a new session (so that its
process group can be killed as a whole) and dies with the parent (the kernel
sends it SIGKILL when the thread that started it exits; see
`runner._child._die_with_parent`), a fresh temporary working directory,
an environment built from an allow-list, CPU-time, address-space, file-size and
process-count limits, a wall-clock deadline, no network where the kernel lets
it unshare the network namespace, and bounded output: stdout and stderr share
one pipe of which only the tail is kept; metric points come back on a pipe of
their own as bounded JSON lines, parsed as they arrive. Whatever the recipe
does, the caller gets a RunResult (status=error and a sentence saying what
happened), never an exception. A caller that must stop early (SIGTERM, a
cancelled job) passes `should_stop`; the run is then killed at once and its
error is STOPPED_ERROR.

Bounding the number of processes when the runner is root. Root ignores
RLIMIT_NPROC (kernel/fork.c lets init_user's tasks and CAP_SYS_ADMIN past it),
so as root the child switches to an unprivileged uid before the recipe runs: a
fresh uid for every run rather than the shared `nobody`, so that RLIMIT_NPROC
counts this run's tasks only, concurrent runs cannot signal each other, and
every leftover process can be found by its uid and killed, even one that left
the process group with setsid(). Losing root also takes every capability away,
so the recipe can neither raise its limits nor re-enter the host's network
namespace. Where the interpreter lives in a private home (pyenv under /root,
mode 700, as on the CI machine) the child first makes it readable in a private
mount namespace (`runner.containment.expose_to`). As a second, independent layer,
root puts the child in a pids cgroup of its own where a pids hierarchy is
writable (v1 at /sys/fs/cgroup/pids, or v2 with the pids controller); that
alone bounds a child that could not drop root. Root with neither refuses to
run. The containment used is recorded in `RunResult.environment.sandbox`.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from runner.channel import LogTail, MetricsChannel
from runner.containment import PidsCgroup, child_environment, kill_processes_of_uid
from runner.spec import BuiltinRecipe, Environment, RunResult, RunStatus, SourceRecipe

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Resource bounds of one run; the defaults suit the toy models of `phenomena/`."""

    # A phenomenon is meant to reproduce in minutes on a laptop CPU; half an
    # hour leaves room for a slow machine. Includes starting the child and
    # importing torch (1-5 s).
    wall_seconds: float = 1800.0
    # Twice the wall budget, so that a run using a couple of threads meets the
    # wall clock first. The kernel counts CPU time per process (setrlimit(2)).
    cpu_seconds: float = 3600.0
    # Address space, not resident memory: torch alone maps ~0.7 GB (measured
    # VmPeak 675 MB training a small MLP with AdamW, torch 2.13 CPU), while the
    # toy models need a few hundred MB resident.
    memory_mb: int = 4096
    # Recipes do no file I/O (they report through log()); this only stops a
    # runaway writer from filling the disk.
    file_size_mb: int = 64
    # Tasks, threads included: torch's intra- and inter-op pools (`threads`
    # each) and a few helper processes fit; a fork bomb stops here.
    max_processes: int = 64
    # A point is ~100 bytes of JSON: ~300k logged steps, far more than a toy
    # run needs, and a bound on what the parent holds in memory.
    max_metric_bytes: int = 32 * MIB
    # Enough for a whole Python traceback and the last screen of prints.
    log_tail_bytes: int = 32 * 1024
    # The run's private /tmp, /var/tmp and /dev/shm together (a tmpfs: memory,
    # outside the address-space limit, so it gets a bound of its own). A recipe
    # reports through log(); this is for libraries that want a scratch file.
    scratch_mb: int = 256


# Fresh sandbox uids: above the ranges systemd allots to containers (up to
# 0x6FFFFFFF) and below 2**31, which some tools mishandle.
SANDBOX_UID_BASE = 1_900_000_000
SANDBOX_UID_SPAN = 2**24
# How long to read what is left in the pipes once every process is killed.
DRAIN_SECONDS = 2.0
# How often the parent asks `should_stop` and, without a pidfd (not Linux),
# looks whether the child has exited. A stopping worker must hand its job back
# well within the stop grace period (60 s in docker-compose.yml).
POLL_SECONDS = 0.1
# The error of a run that `should_stop` ended: callers compare against it to
# tell a stop (hand the job back) from a failure (record it). The recipe cannot
# forge it: a child reporting this text is refused (`_ChildRun._explain`).
STOPPED_ERROR = "stopped: the caller asked the run to stop"


def run_recipe(
    recipe: BuiltinRecipe | SourceRecipe,
    config: dict,
    seed: int,
    *,
    threads: int = 1,
    limits: Limits = Limits(),
    on_point: Callable[[dict], None] | None = None,
    on_progress: Callable[[float, float], None] | None = None,
    on_output: Callable[[bytes], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    launcher: Launcher | None = None,
    source_name: str = "recipe.py",
) -> RunResult:
    """Run `recipe` with `config` and `seed` in a sandboxed child process.

    `on_point` gets every metric point as it arrives, e.g. for a progress bar:
    `{"x": 120.0, "axis": "step", "values": {"train_loss": 0.31}}`,
    `on_progress(done, total)` every progress report, and `on_output` every
    chunk of the recipe's output (stdout and stderr) as it is written. An
    exception any of them raises stops the run (the child is killed) and
    propagates. `source_name` is the file name submitted source is compiled
    under, which its tracebacks show (`my_toy.py`).

    `should_stop` is asked every POLL_SECONDS while the run goes on; once it
    returns True, every process of the run is killed and the result is an error
    whose text is STOPPED_ERROR. It is called on this thread, like `on_point`.

    `launcher` starts the child: by default the warm fork server of
    `runner.forkserver` where the platform has one, else a fresh interpreter.
    Call this from a thread that lives until it returns (it does not return
    before the child is reaped): the child dies when that thread exits.
    """
    [result] = _run(
        recipe, config, [seed], tagged=False, threads=threads, limits=limits,
        on_point=(lambda _seed, point: on_point(point)) if on_point else None,
        on_progress=(lambda _seed, done, total: on_progress(done, total)) if on_progress else None,
        should_stop=should_stop, launcher=launcher, on_output=on_output, source_name=source_name)
    return result


def run_seeds_together(
    recipe: BuiltinRecipe,
    config: dict,
    seeds: Sequence[int],
    *,
    threads: int = 1,
    limits: Limits = Limits(),
    on_point: Callable[[int, dict], None] | None = None,
    on_progress: Callable[[int, float, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    launcher: Launcher | None = None,
) -> list[RunResult]:
    """Run a built-in on several seeds in ONE sandboxed process (`Phenomenon.run_batch`).

    One RunResult per seed, in order; each has its own series and the batch's
    shared wall time, CPU time and peak memory, and its environment names the
    seeds it was trained with (`batch_seeds`). A failure fails every seed.
    Callbacks get the seed first; otherwise as `run_recipe`.
    """
    if not isinstance(recipe, BuiltinRecipe):
        raise ValueError("only built-in recipes run several seeds in one process")
    return _run(recipe, config, list(seeds), tagged=True, threads=threads, limits=limits,
                on_point=on_point, on_progress=on_progress, should_stop=should_stop,
                launcher=launcher)


def _run(recipe: BuiltinRecipe | SourceRecipe, config: dict, seeds: list[int], *, tagged: bool,
         threads: int, limits: Limits, on_point: Callable[[int, dict], None] | None,
         on_progress: Callable[[int, float, float], None] | None,
         should_stop: Callable[[], bool] | None, launcher: Launcher | None,
         on_output: Callable[[bytes], None] | None = None,
         source_name: str = "recipe.py") -> list[RunResult]:
    def failed(error: str) -> list[RunResult]:
        return [RunResult(status=RunStatus.error, seed=seed, error=error) for seed in seeds]

    if should_stop is not None and should_stop():
        return failed(STOPPED_ERROR)
    job = {"recipe": recipe.model_dump(), "config": config,
           **({"seeds": seeds} if tagged else {"seed": seeds[0]}),
           "threads": threads, "limits": asdict(limits), "sandbox_uid": None,
           "pids_cgroup": None, "source_name": source_name}
    try:
        json.dumps(job, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return failed(f"the config cannot be sent to the sandbox ({exc}); config values must be "
                      "JSON: numbers, strings, booleans, lists and mappings")
    cgroup: PidsCgroup | None = None
    try:
        run_dir = tempfile.mkdtemp(prefix="tycho-run-")
    except OSError as exc:
        return failed(f"could not create a temporary directory for the run: {exc}")
    try:
        if os.geteuid() == 0:
            uid = SANDBOX_UID_BASE + secrets.randbelow(SANDBOX_UID_SPAN)
            try:
                os.chown(run_dir, uid, uid)
                job["sandbox_uid"] = uid
            except OSError:
                pass  # root without CAP_CHOWN: the child stays root, bounded by the cgroup
            cgroup = PidsCgroup.create(limits.max_processes)
            job["pids_cgroup"] = cgroup.path if cgroup is not None else None
        channel = MetricsChannel(limits.max_metric_bytes, seeds, tagged=tagged,
                                 on_point=on_point, on_progress=on_progress)
        launcher = launcher or default_launcher(threads)
        return _ChildRun(job, limits, run_dir, cgroup, channel, should_stop, launcher,
                         on_output).execute()
    finally:
        if cgroup is not None:
            cgroup.remove()
        shutil.rmtree(run_dir, ignore_errors=True)


class _ChildRun:
    """One child process, from spawn to reaping."""

    def __init__(self, job: dict, limits: Limits, run_dir: str, cgroup: PidsCgroup | None,
                 metrics: MetricsChannel, should_stop: Callable[[], bool] | None,
                 launcher: Launcher, on_output: Callable[[bytes], None] | None = None) -> None:
        self.job, self.limits, self.run_dir, self.cgroup = job, limits, run_dir, cgroup
        self.should_stop, self.stopped, self.next_stop_poll = should_stop, False, 0.0
        self.launcher, self.on_output = launcher, on_output
        self.log = LogTail(limits.log_tail_bytes)
        self.metrics = metrics
        self.selector = selectors.DefaultSelector()

    def execute(self) -> list[RunResult]:
        job_read, job_write = os.pipe()
        output_read, output_write = os.pipe()
        metrics_read, metrics_write = os.pipe()
        started = time.monotonic()
        try:
            self.child = self.launcher.start(
                cwd=self.run_dir, env=child_environment(self.run_dir, self.job["threads"]),
                stdin=job_read, stdout=output_write, metrics=metrics_write)
        except OSError as exc:  # e.g. EAGAIN: the machine, not the recipe
            for fd in (job_write, output_read, metrics_read):
                os.close(fd)
            return self._results(error=f"could not start the sandbox process: {exc}")
        finally:
            for fd in (job_read, output_write, metrics_write):
                os.close(fd)
        self.pid = self.child.pid
        self.selector.register(output_read, selectors.EVENT_READ, self._output)
        self.selector.register(metrics_read, selectors.EVENT_READ, self.metrics.feed)
        exit_watch = _watch_exit(self.pid)
        if exit_watch is not None:
            self.selector.register(exit_watch, selectors.EVENT_READ, None)
        try:
            # The child reads the job before anything else; it joins its pids
            # cgroup first thing, and only then runs the recipe. parent_pid: it
            # compares it with getppid() to notice that its parent died before
            # it could ask the kernel to kill it when that happens.
            try:
                with open(job_write, "wb") as job_pipe:
                    job_pipe.write(json.dumps({**self.job, "parent_pid": self.child.parent_pid})
                                   .encode())
            except BrokenPipeError:
                pass  # it died on start; its output says why
            finished = self._pump(started + self.limits.wall_seconds, until_exit=True)
            ended = time.monotonic()
        except BaseException:
            self.metrics.on_point = self.metrics.on_progress = self.should_stop = None  # leaving
            self.on_output = None
            raise
        finally:
            # Kill before reaping: the unreaped leader keeps its pid, and with it
            # the process-group id, from going to an unrelated process.
            self._kill_everything()
            try:
                self._pump(time.monotonic() + DRAIN_SECONDS, until_exit=False)
            finally:
                exit_code, cpu_time, peak_mb = self.child.reap()
                for key in list(self.selector.get_map().values()):
                    self._close(key)
        self.metrics.close()
        return self._results(
            error=self._explain(not finished, exit_code, cpu_time),
            wall_time_s=round(ended - started, 3),
            cpu_time_s=round(cpu_time, 3),
            peak_memory_mb=round(peak_mb, 1),
        )

    def _pump(self, deadline: float, *, until_exit: bool) -> bool:
        """Read the pipes until the child exits (or, draining, until they close).

        False if the deadline came first. Waiting for the exit, it also returns
        (True, with self.stopped set) once `should_stop` says so.
        """
        while self.selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in self.selector.select(min(remaining, POLL_SECONDS)):
                chunk = os.read(key.fd, 65536) if key.data else b""
                if chunk:
                    key.data(chunk)
                else:  # end of a pipe, or the pidfd saying the child has exited
                    self._close(key)
                    if key.data is None and until_exit:
                        return True
            # A misused channel ends the run at once; waitid covers a kernel without pidfds.
            if until_exit and (self.metrics.problem or self.child.has_exited()
                               or self._asked_to_stop()):
                return True
        return True

    def _output(self, chunk: bytes) -> None:
        self.log.append(chunk)
        if self.on_output is not None:
            self.on_output(chunk)

    def _asked_to_stop(self) -> bool:
        """Ask `should_stop`, at most once per POLL_SECONDS (a chatty run wakes us often)."""
        now = time.monotonic()
        if self.should_stop is not None and now >= self.next_stop_poll:
            self.next_stop_poll = now + POLL_SECONDS
            self.stopped = bool(self.should_stop())
        return self.stopped

    def _close(self, key: selectors.SelectorKey) -> None:
        self.selector.unregister(key.fileobj)
        os.close(key.fd) if isinstance(key.fileobj, int) else key.fileobj.close()

    def _kill_everything(self) -> None:
        """SIGKILL the child's process group, its cgroup and every process of its uid."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self.job["sandbox_uid"] is not None:
            kill_processes_of_uid(self.job["sandbox_uid"])

    def _explain(self, timed_out: bool, exit_code: int, cpu_time: float) -> str | None:
        """What went wrong, first cause first; None when the run finished."""
        limits = self.limits
        if self.stopped:
            return STOPPED_ERROR
        if timed_out:
            error = (
                "the recipe did not finish within the wall-clock limit of "
                f"{limits.wall_seconds:g} s and was stopped (its whole process group was "
                "killed). Make it faster (fewer steps, a smaller model) or run it with a "
                "larger Limits.wall_seconds."
            )
        elif self.metrics.problem or self.metrics.failure:
            error = self.metrics.problem or self.metrics.failure
            if error == STOPPED_ERROR:  # written by the recipe, not by us: a stop is ours to say
                error = ("the recipe's process reported that the caller stopped it, which only "
                         "the caller can say; it wrote to the metrics channel itself")
        elif exit_code < 0:
            error = _describe_signal(-exit_code, cpu_time, limits)
        elif exit_code > 0:
            error = (f"the recipe's process exited with code {exit_code} before finishing; "
                     "the log tail shows its last output")
        elif self.metrics.environment is None:
            error = ("the recipe's process exited (code 0) before the recipe returned: it "
                     "ended the process itself (os._exit, or a signal to itself), so the run "
                     "never finished")
        else:
            return None
        hits = self.cgroup.limit_hits() if self.cgroup is not None else 0
        if hits and "process" not in error.split(".")[0]:
            error += f" (It also hit the limit of {limits.max_processes} processes {hits} times.)"
        return error

    def _results(self, *, error: str | None, **measured: Any) -> list[RunResult]:
        environment = self.metrics.environment
        if error is None and environment is not None:
            extra = {"sandbox": self.metrics.sandbox.get("containment")}
            if self.metrics.tagged:
                extra["batch_seeds"] = list(self.metrics.recorders)
            environment = Environment.model_validate({**environment.model_dump(), **extra})
        return [
            RunResult(
                status=RunStatus.error if error else RunStatus.ok,
                seed=seed,
                # On error too: the points before a failure show where a run went wrong.
                metrics=recorder.series(),
                environment=environment if error is None else None,
                network_isolated=self.metrics.sandbox.get("network_isolated"),
                error=error,
                log_tail=self.log.text(),
                recipe_time_s=self.metrics.recipe_seconds,
                **measured,
            )
            for seed, recorder in self.metrics.recorders.items()
        ]


def _describe_signal(number: int, cpu_time: float, limits: Limits) -> str:
    name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
    if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu_time >= limits.cpu_seconds):
        return (f"the recipe used more than its CPU-time limit of {limits.cpu_seconds:g} s and was "
                "stopped. Make it cheaper or run it with a larger Limits.cpu_seconds.")
    if number == signal.SIGXFSZ:
        return f"the recipe wrote a file larger than the limit of {limits.file_size_mb} MB"
    if number == signal.SIGKILL:
        return ("the recipe's process was killed (SIGKILL), most likely by the kernel's "
                "out-of-memory killer; use a smaller model or batch")
    if number in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
        return (f"the recipe's process crashed with {name} in native code; under the memory "
                f"limit of {limits.memory_mb} MB this is often a failed allocation")
    return f"the recipe's process was stopped by {name}"


def _watch_exit(pid: int) -> int | None:
    """A pidfd that becomes readable when `pid` exits (Linux 5.3+), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


# --- starting the child -----------------------------------------------------


class Child(Protocol):
    """A started sandbox process, as the launcher that started it knows it."""

    pid: int
    parent_pid: int  # the process the child must die with

    def has_exited(self) -> bool:
        """Whether it has exited, without reaping it (the pid stays reserved)."""

    def reap(self) -> tuple[int, float, float]:
        """Wait for it: exit code (negative: the signal), CPU seconds, peak MB."""


class Launcher(Protocol):
    def start(self, *, cwd: str, env: dict[str, str], stdin: int, stdout: int,
              metrics: int) -> Child:
        """Start `python -m runner._child` reading its job on `stdin`, writing its
        output to `stdout` and its metrics to `metrics`, in a session of its own."""


class FreshInterpreter:
    """Starts each child as a new interpreter: no warm-up shared, nothing assumed."""

    def start(self, *, cwd: str, env: dict[str, str], stdin: int, stdout: int,
              metrics: int) -> Child:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "runner._child", str(metrics)],
            stdin=stdin, stdout=stdout, stderr=stdout, pass_fds=(metrics,), cwd=cwd,
            env=env, start_new_session=True)
        return _OwnChild(process)


class _OwnChild:
    """A child of this process; reaped here with wait4, for its resource usage."""

    def __init__(self, process: subprocess.Popen) -> None:
        # Kept, with its returncode set once reaped, so that subprocess never
        # reaps it behind our back (it polls Popen objects dropped while running).
        self.process, self.pid, self.parent_pid = process, process.pid, os.getpid()

    def has_exited(self) -> bool:
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except (AttributeError, ChildProcessError):
            return False

    def reap(self) -> tuple[int, float, float]:
        _, status, usage = os.wait4(self.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return self.process.returncode, *usage_figures(usage)


def usage_figures(usage: Any) -> tuple[float, float]:
    """CPU seconds and peak resident MB of a reaped process (struct rusage)."""
    rss_unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss * rss_unit / MIB


def default_launcher(threads: int) -> Launcher:
    """The warm fork server for `threads` where this platform has one (Linux with
    pidfds) and TYCHO_FORKSERVER is not 0; a fresh interpreter per run otherwise."""
    from runner import forkserver

    if os.environ.get("TYCHO_FORKSERVER", "1") != "0" and forkserver.supported():
        return forkserver.shared(threads)
    return FreshInterpreter()
