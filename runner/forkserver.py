"""A warm parent for sandboxed runs: import torch and the phenomena once, fork per run.

Starting `python -m runner._child` and importing torch costs 1-6 s per run
(measured: ~1.5 s on an idle 2-core machine, ~6 s on a busy one), while a toy
model may compute for a fraction of that. The fork server is a process that
has imported torch, numpy, the runner and every built-in phenomenon, and
forks one child per run; the child then does exactly what a fresh
`runner._child` does (`runner._child.run_job`): it joins its pids cgroup,
enters its namespaces, mounts its private /proc and /tmp, sets its limits,
drops root, installs the seccomp filter, and only then runs the recipe. So
every isolation guarantee of the sandbox holds as before; what the children
share is only the read-only pages of modules imported before any recipe ran.

- The server itself never runs recipe code, never uses torch's thread pools
  (so a forked child may still create them and set its thread count), and runs
  with the children's stripped environment: one server per thread count, as
  OMP/MKL/OpenBLAS read their thread counts when they load.
- Each child starts a session of its own (its process group is killed as a
  whole), gets the run's pipes as stdin, stdout/stderr and metrics fd, and its
  own working directory and environment.
- The server dies with the thread that started it (PR_SET_PDEATHSIG), and its
  children die with it.
- The parent watches a child through a pidfd (pidfd_open(2) works on any
  process) and asks the server to reap it, after killing what is left of it,
  for its exit status and resource usage: the pid stays reserved until then.

Protocol: JSON messages over a SOCK_SEQPACKET socket pair; the three pipe ends
of a `spawn` travel with it as SCM_RIGHTS.

    {"op": "spawn", "cwd": ..., "env": {...}} + [stdin, stdout, metrics]  -> {"pid": n}
    {"op": "reap", "pid": n}            -> {"exit_code": c, "cpu_s": s, "peak_mb": m}
    {"op": "describe", "name": slug, "config": {...}}
                                        -> the phenomenon's title, claims, quick, defaults,
                                           and whether it takes the config ("config_error")
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

# Large enough for a request or a reply (the job itself goes through a pipe).
MESSAGE_BYTES = 1 << 20
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Seconds to wait for a new server to import torch and the phenomena.
START_SECONDS = 120.0


class ForkServerError(OSError):
    """The fork server could not be started or stopped answering."""


def supported() -> bool:
    """Linux with pidfd_open(2) (5.3+): a parent can watch a child it did not fork."""
    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


_shared: dict[int, ForkServer] = {}
_shared_lock = threading.Lock()


def prestart(threads: int = 1) -> None:
    """Start this process's fork server for `threads` now, in the background, so that its
    imports (torch, the phenomena) overlap the caller's own start-up. A no-op where runs
    do not use a fork server."""
    if os.environ.get("TYCHO_FORKSERVER", "1") == "0" or not supported():
        return
    threading.Thread(target=shared(threads).warm, name="tycho-forkserver-warm",
                     daemon=True).start()


def describe(name: str, config: dict[str, Any] | None = None, threads: int = 1) -> dict[str, Any]:
    """A built-in's title, summary, claims (quick ones too), quick config, defaults and
    groups, and whether it takes `config` (`config_error`), or {"error": ...}: from the
    fork server, else from a one-off interpreter. Never imports torch in the caller."""
    if os.environ.get("TYCHO_FORKSERVER", "1") != "0" and supported():
        return shared(threads).describe(name, config)
    from runner.containment import child_environment

    answer = subprocess.run(
        [sys.executable, "-P", "-m", "runner.forkserver", "describe", name],
        input=json.dumps(config or {}), capture_output=True, text=True,
        env=child_environment("/", threads), cwd="/")
    if answer.returncode != 0:
        raise ForkServerError(f"could not describe {name!r}: {answer.stderr[-2000:]}")
    return json.loads(answer.stdout)


def shared(threads: int) -> ForkServer:
    """This process's fork server for runs with `threads` threads (started on first use)."""
    with _shared_lock:
        server = _shared.get(threads)
        if server is None or server.closed:
            server = _shared[threads] = ForkServer(threads)
        return server


class ForkServer:
    """The parent's handle on one fork server (thread-safe; started lazily)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.closed = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._process: subprocess.Popen | None = None

    # --- requests ---

    def start(self, *, cwd: str, env: dict[str, str], stdin: int, stdout: int,
              metrics: int) -> _ForkedChild:
        """Fork a `runner._child` (the `runner.execute.Launcher` interface)."""
        reply = self._ask({"op": "spawn", "cwd": cwd, "env": env}, fds=(stdin, stdout, metrics))
        return _ForkedChild(self, reply["pid"], self._process.pid)

    def reap(self, pid: int) -> tuple[int, float, float]:
        reply = self._ask({"op": "reap", "pid": pid})
        return reply["exit_code"], reply["cpu_s"], reply["peak_mb"]

    def describe(self, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """A built-in phenomenon's title, summary, claims, quick config and defaults, and
        with `config`, whether it takes it (`config_error`: why not, else None); or
        {"error": ...}: what a command line needs, without importing torch."""
        return self._ask({"op": "describe", "name": name,
                          **({"config": config} if config is not None else {})})

    def warm(self) -> None:
        """Start the server now rather than at the first request (see `prestart`)."""
        with self._lock:
            if self._socket is None and not self.closed:
                try:
                    self._launch()
                except ForkServerError:
                    pass  # the first request tries again, and says why

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self._socket is not None:
                self._socket.close()  # the server reads end-of-file and exits
                self._socket = None

    def _ask(self, request: dict[str, Any], fds: tuple[int, ...] = ()) -> dict[str, Any]:
        with self._lock:
            if self.closed:
                raise ForkServerError("the fork server was closed")
            if self._socket is None:
                self._launch()
            try:
                payload = json.dumps(request).encode()
                if fds:
                    socket.send_fds(self._socket, [payload], list(fds))
                else:
                    self._socket.send(payload)
                answer = self._socket.recv(MESSAGE_BYTES)
            except OSError as exc:
                self._forget()
                raise ForkServerError(f"the fork server stopped answering: {exc}") from exc
            if not answer:
                self._forget()
                raise ForkServerError("the fork server has exited")
            reply = json.loads(answer)
            if "failure" in reply:
                raise ForkServerError(reply["failure"])
            return reply

    # --- the server process ---

    def _launch(self) -> None:
        """Start the server from a thread that lives as long as it does: the server
        dies with the thread that started it, not just with this process."""
        from runner.containment import child_environment

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        started: list[BaseException | subprocess.Popen] = []
        ready = threading.Event()

        def keep() -> None:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-P", "-m", "runner.forkserver", str(theirs.fileno()),
                     str(os.getpid())],
                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, cwd="/",
                    env=child_environment("/", self.threads), start_new_session=True)
            except OSError as exc:
                started.append(exc)
                ready.set()
                return
            started.append(process)
            ready.set()
            process.wait()

        threading.Thread(target=keep, name=f"tycho-forkserver-{self.threads}", daemon=True).start()
        ready.wait()
        theirs.close()
        if isinstance(started[0], BaseException):
            ours.close()
            raise ForkServerError(f"could not start the fork server: {started[0]}")
        self._process = started[0]
        ours.settimeout(START_SECONDS)
        try:
            hello = ours.recv(MESSAGE_BYTES)
        except OSError as exc:
            hello = b""
            problem = str(exc)
        else:
            problem = "it exited while importing torch and the phenomena"
        if not hello:
            ours.close()
            self._process.kill()
            raise ForkServerError(f"the fork server did not start: {problem}")
        ours.settimeout(None)
        self._socket = ours

    def _forget(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None and self._process.poll() is None:
            self._process.kill()


class _ForkedChild:
    """A run's process, forked by the server (the `runner.execute.Child` interface)."""

    def __init__(self, server: ForkServer, pid: int, parent_pid: int) -> None:
        self.server, self.pid, self.parent_pid = server, pid, parent_pid

    def has_exited(self) -> bool:
        return False  # watched through its pidfd, which every supported kernel has

    def reap(self) -> tuple[int, float, float]:
        return self.server.reap(self.pid)


# --- the server side ----------------------------------------------------------


def serve(control: socket.socket, parent_pid: int) -> None:
    """Import what runs need, then fork a child per `spawn` until the parent leaves."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)
    # The imports allocate millions of objects and free almost none: collecting
    # while they run only costs time (measured: 8-10% of importing torch and the
    # runner, 0.2-0.3 s on a busy 2-core machine).
    gc.disable()
    _preload()
    gc.enable()
    # Objects of the preloaded modules go to a generation the collector never
    # visits: otherwise a child's first collection writes to every one of
    # them, and copy-on-write copies their pages (measured: 1.8 s of CPU per
    # child, against a few milliseconds frozen).
    gc.freeze()
    control.send(b'{"ready": true}')
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MESSAGE_BYTES, 3)
        except InterruptedError:
            continue
        if not message:
            os._exit(0)  # the parent closed its end; children die with us
        request = json.loads(message)
        try:
            reply = _answer(request, fds, control)
        except Exception as exc:  # noqa: BLE001 - a failed request must not end the server
            reply = {"failure": f"{request.get('op')}: {exc}"}
        finally:
            for fd in fds:
                os.close(fd)
        control.send(json.dumps(reply).encode())


def _preload() -> None:
    """torch, numpy, the runner's child side and every phenomenon, imported once.

    Importing runs no torch operation, so no thread pool exists to be lost in a
    fork, and each child still sets its own thread count.
    """
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import phenomena
    import runner._child  # noqa: F401
    import runner.environment  # noqa: F401
    import runner.recorder  # noqa: F401
    from runner import isolation

    for name in phenomena.names():
        phenomena.get(name)
    try:
        import pyseccomp  # noqa: F401 - loads libseccomp, which runs ldconfig
    except (ImportError, OSError, RuntimeError):
        pass
    del isolation


def _answer(request: dict[str, Any], fds: list[int], control: socket.socket) -> dict[str, Any]:
    if request["op"] == "spawn":
        if len(fds) != 3:
            raise ValueError(f"spawn needs 3 file descriptors, got {len(fds)}")
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # nothing buffered here may be written twice
        pid = os.fork()
        if pid == 0:
            _become_child(request, fds, control)
        return {"pid": pid}
    if request["op"] == "reap":
        _, status, usage = os.wait4(int(request["pid"]), 0)
        from runner.execute import usage_figures

        cpu, peak = usage_figures(usage)
        return {"exit_code": os.waitstatus_to_exitcode(status), "cpu_s": cpu, "peak_mb": peak}
    if request["op"] == "describe":
        return _describe(request["name"], request.get("config"))
    raise ValueError(f"unknown request {request['op']!r}")


def _become_child(request: dict[str, Any], fds: list[int], control: socket.socket) -> None:
    """In the forked child: the run's session, pipes, directory and environment, then
    exactly what `python -m runner._child` does."""
    try:
        control.close()
        os.setsid()
        stdin, stdout, metrics = fds
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stdout, 2)
        os.close(stdin)
        os.close(stdout)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        from runner import _child

        channel = os.fdopen(os.dup(metrics), "w", encoding="utf-8")
        os.close(metrics)
        _child.run_job(json.load(sys.stdin), channel)
    except BaseException:  # noqa: BLE001 - never return into the server's loop
        import traceback

        traceback.print_exc()
    os._exit(2)


def _describe(name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    import dataclasses

    import phenomena

    try:
        phenomenon = phenomena.get(name)
    except phenomena.UnknownPhenomenon as exc:
        return {"error": str(exc)}
    defaults = {f.name: getattr(phenomenon.config_class(), f.name)
                for f in dataclasses.fields(phenomenon.config_class)}
    described = {"name": name, "title": phenomenon.title, "summary": phenomenon.summary,
                 "claims": phenomenon.claims, "quick": phenomenon.quick,
                 # Claims stated for the quick size, where a module has them.
                 "quick_claims": list(getattr(phenomenon.module, "QUICK_CLAIMS", [])),
                 "groups": phenomenon.groups,  # series drawn together
                 "defaults": json.loads(json.dumps(defaults, default=list)),
                 "batched": phenomenon.batched, "batching_pays": phenomenon.batching_pays}
    if config is not None:
        try:
            phenomenon.make_config(config)
            described["config_error"] = None
        except phenomena.ConfigError as exc:
            described["config_error"] = str(exc)
    return described


if __name__ == "__main__":
    if sys.argv[1] == "describe":  # one answer, where there is no fork server
        print(json.dumps(_describe(sys.argv[2], json.load(sys.stdin) or None)))
    else:
        serve(socket.socket(fileno=int(sys.argv[1])), int(sys.argv[2]))
