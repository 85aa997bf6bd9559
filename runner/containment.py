"""Containment a root runner adds around a run: a pids cgroup, a fresh uid.

Root ignores RLIMIT_NPROC, so as root each run gets a pids cgroup of its own
(where a pids hierarchy is writable) and a fresh unprivileged uid, whose
leftover processes can all be found and killed. See runner/execute.py. The
parent uses PidsCgroup and kill_processes_of_uid; the child (runner._child)
uses expose_to, to reach the interpreter once it is that uid.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import secrets
import signal
import stat
import sys
import time

# From <sched.h> and <sys/mount.h>.
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18

_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class SandboxError(RuntimeError):
    """The sandbox could not be set up as required; the recipe did not run."""


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


# --- the child's view of the file system, as the sandbox uid ---


def expose_to(uid: int) -> bool:
    """Make the interpreter, its libraries and the project readable by `uid`.

    An interpreter under a private home (pyenv in /root, mode 700) cannot be
    read by an unprivileged uid. In a private mount namespace, each directory
    that `uid` may not traverse is covered by an empty tmpfs, and only the
    entries on the needed paths are bind-mounted back into it: the recipe
    reaches the interpreter, but nothing else of that home (tokens, keys).
    Returns False, having mounted nothing, when that cannot work.
    """
    needed = _needed_paths()
    blocked = _blocked_directories(needed, uid)
    if blocked is None or "/" in blocked:
        return False
    if not blocked:
        return True
    host_namespace = os.stat("/proc/self/ns/mnt").st_ino
    if not unshare(CLONE_NEWNS):
        return False
    if os.stat("/proc/self/ns/mnt").st_ino == host_namespace:  # never mount on the host
        raise SandboxError("unshare(CLONE_NEWNS) returned without a new mount namespace")
    try:
        # systemd makes / a shared mount, and mounts under a shared mount
        # propagate to its peers (mount_namespaces(7)): make our copy private first.
        _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
        held = {  # opened before the tmpfs hides them
            os.path.join(directory, name): os.open(os.path.join(directory, name), os.O_PATH)
            for directory, names in blocked.items()
            for name in names
        }
        for directory in sorted(blocked, key=lambda d: d.count("/")):
            _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
            for name in sorted(blocked[directory]):
                target = os.path.join(directory, name)
                if stat.S_ISDIR(os.fstat(held[target]).st_mode):
                    os.mkdir(target, 0o755)
                else:
                    open(target, "x").close()
                _mount(f"/proc/self/fd/{held[target]}", target, None, MS_BIND | MS_REC, None)
        for fd in held.values():
            os.close(fd)
    except OSError as exc:
        raise SandboxError(f"could not expose the interpreter to uid {uid}: {exc}") from exc
    if _blocked_directories(needed, uid):
        raise SandboxError(f"the interpreter is still not readable by uid {uid}")
    return True


def _needed_paths() -> list[str]:
    """What the recipe's process must read: import path, project, interpreter, run dir."""
    paths = [entry for entry in sys.path if os.path.isabs(entry) and os.path.exists(entry)]
    for package in ("runner", "phenomena"):
        spec = importlib.util.find_spec(package)
        paths += list(spec.submodule_search_locations or []) if spec else []
    return [*paths, os.path.realpath(sys.executable), os.getcwd()]


def _blocked_directories(paths: list[str], uid: int) -> dict[str, set[str]] | None:
    """Directories `uid` may not traverse, each with the entries it must reach.

    None when a needed path itself is unreadable by `uid`, which no mount fixes.
    Mode bits only (ACLs are not consulted); `uid` doubles as the gid.
    """
    blocked: dict[str, set[str]] = {}
    for path in paths:
        for variant in {os.path.abspath(path), os.path.realpath(path)}:
            directory = "/"
            for name in [part for part in variant.split("/") if part]:
                if not _permits(os.stat(directory), uid, 0o1):
                    blocked.setdefault(directory, set()).add(name)
                directory = os.path.join(directory, name)
            info = os.stat(variant)
            if not _permits(info, uid, 0o5 if stat.S_ISDIR(info.st_mode) else 0o4):
                return None
    return blocked


def _permits(info: os.stat_result, uid: int, bits: int) -> bool:
    """Whether the owner, group or other bits that apply to `uid` include `bits`."""
    shift = 6 if info.st_uid == uid else 3 if info.st_gid == uid else 0
    return (info.st_mode >> shift) & bits == bits


def unshare(flags: int) -> bool:
    """unshare(2) through libc (Python 3.11 has no os.unshare); False if refused."""
    return _libc is not None and _libc.unshare(ctypes.c_int(flags)) == 0


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    assert _libc is not None
    args = [None if s is None else s.encode() for s in (source, target, fstype)]
    if _libc.mount(*args, ctypes.c_ulong(flags), data and data.encode()) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount on {target}: {os.strerror(code)}")


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
