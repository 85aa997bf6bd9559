"""The sandboxed side of `runner.execute`: runs one recipe (or one batch of seeds)
and streams its metrics.

Started by `runner.execute` as `python -P -m runner._child <metrics-fd>` in a
new session, a fresh temporary directory and a stripped environment, or forked
the same way by the warm parent of `runner.forkserver`. The job (recipe,
config, seed or seeds, threads, limits, sandbox uid, pids cgroup) arrives on
stdin as JSON; metric points, progress, a failure or the final "done" leave as
JSON lines on the metrics fd, never on stdout, so a recipe's prints cannot
corrupt them:

    {"sandbox": {"network_isolated": bool, "containment": str, ...}}   first
    {"x": ..., "axis": ..., "values": {...}}                            a metric point
    {"progress": {"done": ..., "total": ...}}                           how far it is
    {"failed": "<what went wrong>"}                                      then exit 1
    {"done": true, "environment": {...}, "recipe_s": s}                  then exit 0

In a batch (`"seeds": [...]` instead of `"seed"`), every point and progress line
also carries the `"seed"` it belongs to.

The order of the steps matters:
1. Read the job, and join the run's pids cgroup (as root) before anything else.
2. Enter new namespaces while single-threaded: unshare(2) refuses
   CLONE_NEWUSER to a multi-threaded caller, and torch or numpy start threads.
   With a new pid namespace, fork: the child is its pid 1 and goes on, this
   process waits (`runner.isolation.become_pid_namespace_init`).
3. Mount a private /proc and a private, size-limited /tmp; as root, make the
   interpreter readable by the sandbox uid (`runner.isolation.expose_to`).
4. Arrange determinism, set the resource limits, drop root, ask to die with
   the parent (a change of credentials would clear that), then install the
   seccomp filter. Only then does recipe code run.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.abc
import importlib.util
import json
import linecache
import math
import os
import random
import resource
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

from runner.containment import PidsCgroup
from runner.isolation import (
    SandboxError,
    become_pid_namespace_init,
    deny_privileged_syscalls,
    enter_namespaces,
    expose_to,
    make_private_scratch,
    mount_private_proc,
    parent_has_gone,
    set_no_new_privs,
)

MIB = 1024 * 1024
# Seconds between the soft CPU limit (SIGXCPU, which a recipe could catch or
# ignore) and the hard one, where the kernel sends SIGKILL.
CPU_GRACE_SECONDS = 2
# Lines of traceback kept in the error message (the whole traceback is in the log).
TRACEBACK_LINES = 12

# From <linux/prctl.h>.
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4

_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class RecipeLoadError(RuntimeError):
    """The recipe could not be found, compiled or configured."""


def main(argv: list[str]) -> NoReturn:
    # Move the channel to the lowest free descriptor (usually 3), where a
    # recipe's stray writes would land first, so that they are caught.
    passed = int(argv[1])
    channel = os.fdopen(os.dup(passed), "w", encoding="utf-8")  # dup: not inheritable
    os.close(passed)
    run_job(json.load(sys.stdin), channel)


def run_job(job: dict[str, Any], channel: TextIO) -> NoReturn:
    """Set up the sandbox, run the job's recipe, report, and end the process."""
    job = {**job, "metrics_fd": channel.fileno()}
    cgroup = job.get("pids_cgroup")
    job["in_pids_cgroup"] = bool(cgroup) and PidsCgroup(cgroup).add(os.getpid())
    try:
        sandbox = enter_sandbox(job)
    except SandboxError as exc:
        _send(channel, {"failed": f"the sandbox could not be set up: {exc}"})
        _exit(2)
    _send(channel, {"sandbox": sandbox})

    from runner.recorder import StreamingRecorder

    main_pid = os.getpid()
    started = time.monotonic()
    try:
        if "seeds" in job:
            run_batch(job, [StreamingRecorder(channel, seed=seed) for seed in job["seeds"]])
        else:
            run_recipe(job, StreamingRecorder(channel))
    except BaseException as exc:  # noqa: BLE001 - every way a recipe can end is reported
        if os.getpid() != main_pid:
            os._exit(1)  # a process the recipe forked: only the main one reports
        if not isinstance(exc, RecipeLoadError):  # whose message says it all
            print("".join(recipe_traceback(exc)), end="", file=sys.stderr)  # the log, once
        _send(channel, {"failed": describe_failure(exc, job["limits"])})
        _exit(1)
    recipe_seconds = time.monotonic() - started
    if os.getpid() != main_pid:
        os._exit(0)
    from runner.environment import fingerprint

    _send(channel, {"done": True, "environment": fingerprint(job["threads"]).model_dump(),
                    "recipe_s": recipe_seconds})
    # os._exit, not sys.exit: a thread the recipe left running must not keep the
    # run alive until the wall-clock limit.
    _exit(0)


# --- sandbox ---------------------------------------------------------------


def enter_sandbox(job: dict[str, Any]) -> dict[str, Any]:
    """Namespaces, mounts, determinism, limits, privilege drop, seccomp; what was achieved."""
    limits, as_root = job["limits"], os.geteuid() == 0
    _die_with_parent(job["parent_pid"])
    namespaces = enter_namespaces(as_root=as_root)
    alive = become_pid_namespace_init((job["metrics_fd"],)) if namespaces.pid else None
    processes_hidden = namespaces.pid and namespaces.mount and mount_private_proc()
    sandbox_uid = job["sandbox_uid"] if as_root else None
    scratch = make_private_scratch(limits["scratch_mb"], sandbox_uid) if namespaces.mount else None
    if scratch is not None:
        os.chdir(scratch)
        os.environ.update(HOME=scratch, TMPDIR=scratch)
    dropped = sandbox_uid is not None and expose_to(sandbox_uid,
                                                    own_mount_namespace=namespaces.mount)
    if as_root and not dropped and not job["in_pids_cgroup"]:
        raise SandboxError(
            "as root, the number of processes can be bounded only by a pids cgroup "
            "(root ignores RLIMIT_NPROC) or by switching to an unprivileged uid, and "
            "neither was possible. Run the runner as a non-root user, or give it a "
            "writable pids cgroup hierarchy."
        )
    seeds = job.get("seeds") or [job["seed"]]
    _make_deterministic(seeds[0], job["threads"])
    tasks = _process_bound(limits["max_processes"], fresh_uid=dropped or namespaces.user)
    _apply_limits(limits, tasks)
    if dropped:
        _drop_privileges(sandbox_uid)
    _die_with_parent(job["parent_pid"], alive)
    filtered = deny_privileged_syscalls()

    bounds = [f"pids cgroup (max {limits['max_processes']})"] if job["in_pids_cgroup"] else []
    if tasks is not None and (dropped or not as_root):  # root ignores RLIMIT_NPROC
        bounds.append(f"RLIMIT_NPROC ({tasks})")
    who = "root" if as_root and not dropped else f"uid {os.getuid()}"
    guarantees = [f"{' + '.join(bounds) or 'no process bound'}, as {who}"]
    if processes_hidden:
        guarantees.append("own pid namespace and /proc")
    if scratch is not None:
        guarantees.append(f"private /tmp, /var/tmp and /dev/shm ({limits['scratch_mb']} MB)")
    if filtered:
        guarantees.append("seccomp filter")
    return {
        "network_isolated": namespaces.network,
        "processes_hidden": bool(processes_hidden),
        "private_tmp": scratch is not None,
        "seccomp": filtered,
        "containment": "; ".join(guarantees),
        "metrics_fd": job["metrics_fd"],
    }


def _make_deterministic(seed: int, threads: int) -> None:
    """Seed python, numpy and torch; torch deterministic with `threads` threads.

    numpy and torch are set up the moment they are imported rather than
    imported here: a recipe that never uses torch does not pay ~1-5 s for it.
    """
    random.seed(seed)

    def set_up_torch(torch: Any) -> None:
        torch.manual_seed(seed)
        _deterministic_torch(torch)
        torch.set_num_threads(threads)
        # The inter-op pool otherwise starts a thread per core on first use,
        # and threads count against the process bound.
        torch.set_num_interop_threads(threads)
        torch.set_flush_denormal(True)

    _when_imported("numpy", lambda numpy: numpy.random.seed(seed % 2**32))  # legacy seed: 32 bits
    _when_imported("torch", set_up_torch)


def _deterministic_torch(torch: Any) -> None:
    """What torch.use_deterministic_algorithms(True) does, without its cost.

    It imports torch._inductor to set one flag of torch.compile: 1-2 s of
    every run (measured: 2.3 s on a busy 2-core machine, most of a small run's
    fixed cost). Set the eager flag directly, and inductor's if a recipe ever
    imports it; the public call where torch lacks the private one.
    """
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None:
        torch.use_deterministic_algorithms(True)
        return
    set_flag(True)
    _when_imported("torch._inductor.config",
                   lambda config: setattr(config, "deterministic", True))


def _when_imported(name: str, set_up: Callable[[Any], None]) -> None:
    """Call `set_up(module)` right after module `name` is first imported."""
    if name in sys.modules:
        set_up(sys.modules[name])
        return

    class SetUpAfterImport(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
            if fullname != name:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.loader is not None:
                execute = spec.loader.exec_module
                spec.loader.exec_module = lambda module: (execute(module), set_up(module))
            return spec

    sys.meta_path.insert(0, SetUpAfterImport())


def _process_bound(max_processes: int, *, fresh_uid: bool) -> int | None:
    """The RLIMIT_NPROC value that leaves the recipe `max_processes` tasks.

    The kernel counts every task (threads included) of the real uid in the
    user namespace (kernel/ucount.c). A fresh sandbox uid or user namespace
    holds nothing else; otherwise add what the uid already runs.
    """
    if fresh_uid:
        return max_processes
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None  # no /proc (macOS): leave RLIMIT_NPROC alone
    running = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue  # exited while we looked
        if int(fields.get("Uid", "-1").split()[0]) == os.getuid():
            running += int(fields.get("Threads", "1"))
    return running + max_processes


def _apply_limits(limits: dict[str, Any], tasks: int | None) -> None:
    cpu = math.ceil(limits["cpu_seconds"])  # whole seconds; includes ~0.2 s of start-up
    _lower(resource.RLIMIT_CPU, cpu, cpu + CPU_GRACE_SECONDS)
    _lower(resource.RLIMIT_AS, limits["memory_mb"] * MIB)
    _lower(resource.RLIMIT_FSIZE, limits["file_size_mb"] * MIB)
    _lower(resource.RLIMIT_CORE, 0)  # a crashing recipe must not write core files
    if tasks is not None:
        _lower(resource.RLIMIT_NPROC, tasks)


def _lower(kind: int, soft: int, hard: int | None = None) -> None:
    """Set a limit, never above the hard limit we inherited (non-root cannot raise it)."""
    hard = soft if hard is None else hard
    _, inherited = resource.getrlimit(kind)
    if inherited != resource.RLIM_INFINITY:
        soft, hard = min(soft, inherited), min(hard, inherited)
    try:
        resource.setrlimit(kind, (soft, hard))
    except (ValueError, OSError) as exc:  # e.g. RLIMIT_AS on macOS
        print(f"tycho sandbox: could not set resource limit {kind}: {exc}", file=sys.stderr)


def _drop_privileges(uid: int) -> None:
    """Become `uid` for good: no groups, no capabilities, no way back.

    setuid(2) from root to another uid clears every capability, so the recipe
    can neither raise its limits, nor leave its cgroup, nor re-enter the host's
    network namespace. NO_NEW_PRIVS makes setuid binaries powerless.
    """
    try:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    except OSError as exc:  # root without CAP_SETUID, e.g. a container that dropped it
        raise SandboxError(f"could not switch to uid {uid}: {exc}") from exc
    set_no_new_privs()
    if _libc is not None:
        # setuid made us non-dumpable, which hands /proc/self to root and breaks
        # libraries that read it; the uid is this run's alone, so only the
        # recipe's own processes could trace it.
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    if (os.getuid(), os.geteuid()) != (uid, uid):
        raise SandboxError(f"could not switch to uid {uid}")


def _die_with_parent(parent_pid: int, alive_fd: int | None = None) -> None:
    """Have the kernel SIGKILL this process when the runner that started it dies.

    In a session of its own, the child would otherwise outlive a SIGKILLed
    worker. PR_SET_PDEATHSIG fires when the thread that forked us exits, however
    it exits (prctl(2)). It must be set again after the privilege drop:
    commit_creds() (kernel/cred.c) clears it when the euid, egid, fsuid or fsgid
    change. A parent that died before it was set shows as a getppid() other than
    its pid, as we were reparented; in a new pid namespace, where the parent is
    invisible, as the end of the `alive_fd` pipe it holds. It is not inherited
    across fork(2); the processes the recipe starts die with it where it is pid 1
    of a pid namespace of its own, and are otherwise bound only by their limits.
    """
    if _libc is not None and _libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise SandboxError(f"could not ask to die with the runner: {os.strerror(code)}")
    gone = parent_has_gone(alive_fd) if alive_fd is not None else os.getppid() != parent_pid
    if gone:
        os._exit(1)  # nobody is left to read a message


# --- the recipe ------------------------------------------------------------


def run_recipe(job: dict[str, Any], log: Any) -> None:
    recipe, config = job["recipe"], {**job["config"], "seed": job["seed"]}
    if "builtin" not in recipe:
        _load_source(recipe["source"], recipe.get("entrypoint", "run"),
                     job.get("source_name") or "recipe.py")(config, log)
        return
    phenomenon, parsed = _builtin(recipe["builtin"], config)
    phenomenon.run(parsed, log)


def run_batch(job: dict[str, Any], logs: list[Any]) -> None:
    """The job's seeds at once (`Phenomenon.run_batch`), seed i reporting to logs[i]."""
    if "builtin" not in job["recipe"]:
        raise RecipeLoadError("only built-in recipes run several seeds in one process")
    seeds = job["seeds"]
    phenomenon, parsed = _builtin(job["recipe"]["builtin"], {**job["config"], "seed": seeds[0]})
    phenomenon.run_batch(parsed, seeds, logs)


def _builtin(name: str, config: dict[str, Any]) -> tuple[Any, Any]:
    """The built-in phenomenon `name` and `config` parsed into its Config."""
    import phenomena

    try:
        phenomenon = phenomena.get(name)
    except phenomena.UnknownPhenomenon as exc:
        raise RecipeLoadError(str(exc)) from None
    except ImportError as exc:
        raise RecipeLoadError(f"the built-in recipe {name!r} could not be imported: {exc}") from exc
    try:
        parsed = phenomenon.make_config(config)
    except phenomena.ConfigError as exc:
        raise RecipeLoadError(f"bad config for {name}: {exc}") from None
    return phenomenon, parsed


def _load_source(source: str, entrypoint: str, filename: str = "recipe.py") -> Callable[..., Any]:
    """The entry point of submitted source, compiled under `filename` (the name its author
    knows it by), whose lines its tracebacks show."""
    module = types.ModuleType("recipe")
    module.__file__ = filename
    sys.modules["recipe"] = module
    # No file to read the lines from: tracebacks and inspect find them here.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        raise RecipeLoadError(
            f"the recipe's source does not compile: {filename}, line {exc.lineno}: {exc.msg}"
            + (f"\n    {exc.text.strip()}" if exc.text else "")
        ) from None
    exec(code, module.__dict__)
    function = getattr(module, entrypoint, None)
    if not callable(function):
        raise RecipeLoadError(
            f"the recipe defines no function {entrypoint!r}; define "
            f"`def {entrypoint}(config, log):` or name the right entrypoint"
        )
    return function


def describe_failure(exc: BaseException, limits: dict[str, Any]) -> str:
    """What went wrong, in words a researcher can act on, then the traceback's end."""
    from runner.recorder import RecordingError

    text = str(exc)
    if isinstance(exc, RecipeLoadError):
        return text
    if isinstance(exc, MemoryError) or "can't allocate memory" in text:  # torch's allocator
        head = (
            "the recipe ran out of memory: it needed more than the limit of "
            f"{limits['memory_mb']} MB of address space. Use a smaller model or batch, "
            "or run it with a larger Limits.memory_mb."
        )
    elif isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        head = (
            f"the recipe wrote a file larger than the limit of {limits['file_size_mb']} MB. "
            "A recipe reports its results through log(), not through files."
        )
    elif getattr(exc, "errno", None) == errno.EAGAIN or "can't start new thread" in text:
        head = (
            "the recipe could not start another process or thread: the limit is "
            f"{limits['max_processes']}, threads included."
        )
    elif isinstance(exc, RecordingError):
        head = f"the recipe logged an invalid metric: {text}"
    elif isinstance(exc, SystemExit):
        head = f"the recipe called sys.exit({exc.code!r}) instead of returning from its function"
    else:
        head = f"the recipe raised {type(exc).__name__}: {text}"
    lines = "".join(recipe_traceback(exc)).rstrip().splitlines()
    return head + "\n" + "\n".join(lines[-TRACEBACK_LINES:])


def recipe_traceback(exc: BaseException) -> list[str]:
    """The traceback of `exc` from the recipe's first frame on: the frames of the runner
    above it (and below it, inside log()) are the sandbox's business, not the author's."""
    from runner.recorder import RecordingError

    runner_dir = os.path.dirname(os.path.abspath(__file__))
    ours = [os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == runner_dir
            for frame, _ in traceback.walk_tb(exc.__traceback__)]
    if not ours or all(ours):
        return traceback.format_exception(exc)
    first = ours.index(False)
    last = len(ours) - ours[::-1].index(False)
    tb = exc.__traceback__
    for _ in range(first):
        tb = tb.tb_next
    shown = traceback.TracebackException(type(exc), exc, tb)
    del shown.stack[last - first:]
    # What made log() refuse a value is the runner's own business too.
    return list(shown.format(chain=not isinstance(exc, RecordingError)))


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    try:
        channel.write(json.dumps(message, allow_nan=False) + "\n")
        channel.flush()
    except (OSError, ValueError):
        pass  # the recipe closed or replaced the channel; the parent will say so


def _exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv)
