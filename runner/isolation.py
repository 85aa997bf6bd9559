"""The child's side of the sandbox: namespaces, a private /proc and /tmp, seccomp.

`runner._child` calls these, in this order, before any recipe code runs:

1. `enter_namespaces`: new network, mount and pid namespaces (and, without
   root, a user namespace that makes the others possible), while the process
   is still single-threaded (unshare(2) refuses CLONE_NEWUSER otherwise).
2. `become_pid_namespace_init`: unshare(CLONE_NEWPID) moves only the caller's
   *children* into the new pid namespace, so the process forks; the child is
   pid 1 there and runs the recipe, the parent waits and mirrors its end. When
   pid 1 ends, the kernel kills everything else in its namespace: no process of
   a recipe outlives its run, whatever it did with setsid() or double forks.
3. `mount_private_proc`: a /proc of the new pid namespace, so the recipe sees
   its own processes only (no other process's command line or environment).
4. `make_private_scratch`: a size-limited tmpfs over /tmp, with /var/tmp and
   /dev/shm bound into it, so what a recipe writes there counts against one
   bound and vanishes with its mount namespace, i.e. with the run.
5. `expose_to` (root only): the interpreter made readable by the sandbox uid.
6. `deny_privileged_syscalls`: a seccomp filter, installed last (after the
   privilege drop), for the system calls a toy model never needs.

Each step reports whether the kernel allowed it; what a run got is recorded in
its environment (`sandbox`), and docs/deployment.md says what each guarantees.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import os
import select
import signal
import stat
import sys
from dataclasses import dataclass

# From <sched.h> and <sys/mount.h>.
CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWUTS = 0x02000000, 0x08000000, 0x04000000
NAMESPACE_FLAGS = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWNET | \
    CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWUTS
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18

_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class SandboxError(RuntimeError):
    """The sandbox could not be set up as required; the recipe did not run."""


@dataclass
class Namespaces:
    """Which new namespaces the process entered."""

    network: bool = False
    mount: bool = False
    pid: bool = False
    user: bool = False


def enter_namespaces(*, as_root: bool) -> Namespaces:
    """New network, mount and pid namespaces, as many as the kernel allows.

    Root may create them directly. Without root, only inside a new user
    namespace (where kernel.unprivileged_userns_clone and AppArmor's userns
    restriction allow it), in which this process maps its own ids.
    """
    host_mounts = _mount_namespace()
    if as_root:
        tries = (CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID, CLONE_NEWNET | CLONE_NEWNS, CLONE_NEWNET)
    else:
        tries = (CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID,
                 CLONE_NEWUSER | CLONE_NEWNET)
    for flags in tries:
        if unshare(flags):
            entered = Namespaces(network=True, mount=bool(flags & CLONE_NEWNS),
                                 pid=bool(flags & CLONE_NEWPID), user=not as_root)
            if entered.user:
                _map_own_ids()
            if entered.mount:
                _check_own_mount_namespace(host_mounts)
                make_mounts_private()
            return entered
    return Namespaces()


def _map_own_ids() -> None:
    """Map our uid and gid into the new user namespace, so files keep their owners.

    user_namespaces(7): an unprivileged process may map exactly its own ids, and
    must write "deny" to setgroups before it may write gid_map.
    """
    uid, gid = os.getuid(), os.getgid()
    try:
        maps = (("uid_map", f"{uid} {uid} 1"), ("setgroups", "deny"), ("gid_map", f"{gid} {gid} 1"))
        for name, text in maps:
            with open(f"/proc/self/{name}", "w") as proc_file:
                proc_file.write(text)
    except OSError:
        pass  # unmapped ids show as 65534 inside; access checks still use the real ones


def become_pid_namespace_init(keep_fds: tuple[int, ...]) -> int:
    """Fork into the new pid namespace; returns, in the child (pid 1 there), a file
    descriptor that reads end-of-file once the parent has gone.

    The parent never returns: it closes everything but stdout and stderr (the
    metrics channel in `keep_fds` stays with the child alone, so its end means
    the recipe's end), waits for the child and ends the same way: the same exit
    code, or the same signal, which the runner reads (SIGKILL from the
    out-of-memory killer, SIGXCPU from the CPU limit).
    """
    alive_read, alive_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(alive_write)
        return alive_read
    os.close(alive_read)
    for fd in keep_fds:
        os.close(fd)
    os.closerange(3, alive_write)
    os.closerange(alive_write + 1, 1 << 16)
    # The caller's process group is killed as a whole; until then, pass on a
    # polite stop so that the recipe's pid 1 (which ignores SIGTERM) gets it.
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda signum, _frame: os.kill(pid, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [number])
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status))


def parent_has_gone(alive_fd: int) -> bool:
    """Whether the pipe from `become_pid_namespace_init` has lost its writer."""
    readable, _, _ = select.select([alive_fd], [], [], 0)
    return bool(readable) and os.read(alive_fd, 1) == b""


def _mount_namespace() -> int | None:
    try:
        return os.stat("/proc/self/ns/mnt").st_ino
    except OSError:
        return None


def _check_own_mount_namespace(host_mounts: int | None) -> None:
    """Never mount on the host: refuse if unshare(CLONE_NEWNS) left us where we were."""
    if host_mounts is not None and _mount_namespace() == host_mounts:
        raise SandboxError("unshare(CLONE_NEWNS) returned without a new mount namespace")


def make_mounts_private() -> None:
    """systemd makes / a shared mount, and mounts under a shared mount propagate
    to its peers (mount_namespaces(7)): make this namespace's copy private first."""
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    except OSError as exc:
        raise SandboxError(f"could not make the run's mounts private: {exc}") from exc


def mount_private_proc() -> bool:
    """A /proc showing this pid namespace only; False where the kernel refuses it
    (a user namespace under a /proc with masked entries, as in many containers)."""
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    except OSError:
        return False
    return True


SCRATCH_ROOTS = ("/tmp", "/var/tmp", "/dev/shm")


def _held_under(roots: tuple[str, ...]) -> dict[str, int]:
    """O_PATH descriptors of the entries directly under `roots` that a needed path (the
    interpreter, the import path, the project) goes through, by path."""
    held: dict[str, int] = {}
    for path in _needed_paths():
        for variant in {os.path.abspath(path), os.path.realpath(path)}:
            for root in roots:
                if variant.startswith(root + "/"):
                    entry = os.path.join(root, variant[len(root) + 1:].split("/")[0])
                    if entry not in held and entry != "/tmp/run":
                        held[entry] = os.open(entry, os.O_PATH)
    return held


def make_private_scratch(size_mb: int, owner: int | None) -> str | None:
    """A tmpfs of `size_mb` over /tmp with /var/tmp and /dev/shm bound into it;
    returns the run's working directory in it (owned by `owner` when given), or
    None where no tmpfs could be mounted."""
    # The interpreter or the project may live in /tmp (a checkout in /tmp/tycho): hold
    # what the run needs from there, to bind it back into the private scratch.
    kept = _held_under(SCRATCH_ROOTS)
    try:
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size_mb}m")
    except OSError:
        for fd in kept.values():
            os.close(fd)
        return None
    for target, name in (("/var/tmp", ".var-tmp"), ("/dev/shm", ".shm")):
        if os.path.isdir(target):
            inside = os.path.join("/tmp", name)
            os.mkdir(inside)
            os.chmod(inside, 0o1777)
            try:
                _mount(inside, target, None, MS_BIND, None)
            except OSError as exc:
                raise SandboxError(f"could not give the run a private {target}: {exc}") from exc
    try:
        for path, fd in kept.items():
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                os.makedirs(path, 0o755, exist_ok=True)
            else:
                open(path, "a").close()
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
    except OSError as exc:
        raise SandboxError(f"could not keep {path} in the run's private /tmp: {exc}") from exc
    finally:
        for fd in kept.values():
            os.close(fd)
    work = "/tmp/run"
    os.mkdir(work, 0o700)
    if owner is not None:
        os.chown(work, owner, owner)
    return work


# --- the interpreter, seen by the sandbox uid ---


def expose_to(uid: int, *, own_mount_namespace: bool) -> bool:
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
    if not own_mount_namespace:
        host_mounts = _mount_namespace()
        if not unshare(CLONE_NEWNS):
            return False
        _check_own_mount_namespace(host_mounts)
        make_mounts_private()
    try:
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


# --- seccomp ---

# System calls a toy model never needs, refused with EPERM. Each opens a way
# out of the sandbox or into the kernel's attack surface:
DENIED_SYSCALLS = (
    # new namespaces: a user namespace gives full capabilities inside it, and
    # with them mounts and raw sockets (clone is filtered on its flags below)
    "unshare", "setns",
    # file systems and the root: mount what was hidden, or leave the view given
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsmount", "fsconfig",
    "move_mount", "open_tree", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    # other processes' memory and registers
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # the kernel's keyrings (other users' secrets live there)
    "keyctl", "add_key", "request_key",
    # kernel programs, tracing and the page-fault channel exploits rely on
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register",
    # the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "settimeofday", "clock_settime",
    "adjtimex", "clock_adjtime", "syslog", "vhangup", "personality",
)


def deny_privileged_syscalls() -> bool:
    """Install the seccomp filter (libseccomp, through pyseccomp); False where
    libseccomp or seccomp itself is missing. Needs no_new_privs, set here."""
    try:
        import pyseccomp
    except (ImportError, OSError, RuntimeError):  # RuntimeError: no libseccomp.so
        return False
    try:
        ruleset = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
        refuse = pyseccomp.ERRNO(errno.EPERM)
        for name in DENIED_SYSCALLS:
            try:
                ruleset.add_rule(refuse, name)
            except (OSError, ValueError):
                pass  # not a system call on this architecture
        # clone(2) with a namespace flag is unshare(2) under another name;
        # threads and fork stay allowed. clone3 passes its flags in memory a
        # filter cannot read: ENOSYS makes libc fall back to clone.
        for flag in (CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
                     CLONE_NEWIPC, CLONE_NEWUTS):
            ruleset.add_rule(refuse, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
        ruleset.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
        set_no_new_privs()
        ruleset.load()
    except OSError:
        return False
    return True


# --- system calls Python 3.11 does not wrap ---

PR_SET_NO_NEW_PRIVS = 38  # linux/prctl.h


def set_no_new_privs() -> None:
    """setuid binaries lose their power; required before an unprivileged seccomp filter."""
    if _libc is not None:
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def unshare(flags: int) -> bool:
    """unshare(2) through libc (Python 3.11 has no os.unshare); False if refused."""
    return _libc is not None and _libc.unshare(ctypes.c_int(flags)) == 0


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    if _libc is None:
        raise OSError(errno.ENOSYS, "mount(2) is Linux's")
    args = [None if s is None else s.encode() for s in (source, target, fstype)]
    if _libc.mount(*args, ctypes.c_ulong(flags), data and data.encode()) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount on {target}: {os.strerror(code)}")

