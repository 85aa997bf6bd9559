"""Containment a root runner adds around a run: a pids cgroup, a fresh uid.

Root ignores RLIMIT_NPROC, so as root each run gets a pids cgroup of its own
(where a pids hierarchy is writable) and a fresh unprivileged uid, whose
leftover processes can all be found and killed. See runner/execute.py. This is
the parent's side; the child's (namespaces, mounts, seccomp) is runner.isolation.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time

import runner


class PidsCgroup:
    """A pids cgroup of one run: caps its task count, lists its tasks to kill them.

    Only root may create one; on cgroup v2 the pids controller must be enabled
    in the root's cgroup.subtree_control.
    """

    V1_PIDS, V2_ROOT = "/sys/fs/cgroup/pids", "/sys/fs/cgroup"

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def create(cls, max_tasks: int) -> PidsCgroup | None:
        """A new cgroup allowing `max_tasks` tasks, or None where that is not possible."""
        for hierarchy in (cls.V1_PIDS, cls.V2_ROOT):
            controllers = _read(f"{hierarchy}/cgroup.subtree_control").split()
            if hierarchy == cls.V2_ROOT and "pids" not in controllers:
                continue  # cgroup v1 mounts a plain tmpfs there
            cgroup = cls(os.path.join(hierarchy, f"tycho-run-{os.getpid()}-{secrets.token_hex(4)}"))
            try:
                os.mkdir(cgroup.path)
            except OSError:
                continue
            if cgroup._write("pids.max", str(max_tasks)):
                return cgroup
            cgroup.remove()
        return None

    def add(self, pid: int) -> bool:
        return self._write("cgroup.procs", str(pid))

    def limit_hits(self) -> int:
        """How many forks and clones were refused for reaching pids.max."""
        lines = _read(f"{self.path}/pids.events").splitlines()
        return sum(int(line.split()[1]) for line in lines if line.startswith("max "))

    def kill_all(self) -> None:
        for _ in range(100):  # the task count is capped, so this converges even on a fork bomb
            pids = [int(pid) for pid in _read(f"{self.path}/cgroup.procs").split()]
            if not pids:
                return
            for pid in pids:
                _kill(pid)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for _ in range(100):  # rmdir is refused (EBUSY) until the last task has gone
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)

    def _write(self, name: str, value: str) -> bool:
        try:
            with open(os.path.join(self.path, name), "w") as control:
                control.write(value)
            return True
        except OSError:
            return False


def kill_processes_of_uid(uid: int) -> None:
    """SIGKILL every live process whose real uid is `uid`, until none is left.

    The sandbox uid is this run's alone, and its processes have no capability
    to change it, so this finds even one that left the process group.
    """
    for _ in range(50):
        found = False
        for entry in filter(str.isdigit, os.listdir("/proc")):
            status = _read(f"/proc/{entry}/status").splitlines()
            fields = dict(line.split(":", 1) for line in status)
            # A zombie (our unreaped child, or an orphan init has yet to reap)
            # runs nothing and ignores signals.
            if fields.get("Uid", "-1").split()[0] == str(uid) and "Z" not in fields["State"]:
                found = True
                _kill(int(entry))
        if not found:
            return
        time.sleep(0.01)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read(path: str) -> str:
    """A small kernel file's text; empty if it is gone (an exited process, no cgroup)."""
    try:
        with open(path) as kernel_file:
            return kernel_file.read()
    except OSError:
        return ""


# The directories a run's PATH may name besides the interpreter's own.
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


def child_environment(run_dir: str, threads: int) -> dict[str, str]:
    """The child's whole environment, built from nothing but these names.

    An allow-list, not a deny-list: a token under a name nobody thought of
    (TYCHO_TOKEN, AWS_SECRET_ACCESS_KEY, HF_TOKEN, ...) cannot leak through it.
    Here rather than in `runner.execute`, so that the fork server starts without
    waiting for the wire schemas to import.
    """
    count = str(threads)
    return {
        "PATH": f"{os.path.dirname(sys.executable)}:{SAFE_PATH}",
        "LANG": "C.UTF-8",
        "HOME": run_dir,
        "TMPDIR": run_dir,
        "USER": "tycho",
        "LOGNAME": "tycho",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",  # so that a killed recipe's log tail ends with its last print
        # The child imports the same `runner` as the caller, installed or not.
        "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(runner.__file__))),
        "OMP_NUM_THREADS": count,
        "MKL_NUM_THREADS": count,
        "OPENBLAS_NUM_THREADS": count,
        # glibc reserves 64 MB of address space per thread arena, which counts
        # against RLIMIT_AS without being used.
        "MALLOC_ARENA_MAX": "2",
    }
