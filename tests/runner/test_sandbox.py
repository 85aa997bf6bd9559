"""What the sandbox hides and forbids: other processes, scratch space, privileged calls.

Each guarantee holds where the kernel allows it (root, or unprivileged user
namespaces); the run's environment says which it got, and these tests check
the guarantee wherever the run claims it (docs/deployment.md, "The sandbox").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

import runner
from runner.execute import Limits, run_recipe, run_seeds_together
from runner.spec import BuiltinRecipe, RunStatus, SourceRecipe

ROOMY = Limits(wall_seconds=120, cpu_seconds=60, memory_mb=2048, file_size_mb=64,
               max_processes=32, scratch_mb=16)


def source(text: str) -> SourceRecipe:
    return SourceRecipe(source=textwrap.dedent(text))


def run(recipe: SourceRecipe, config: dict | None = None, **options):
    result = run_recipe(recipe, config or {}, seed=0, limits=ROOMY, **options)
    assert result.status is RunStatus.ok, result.error + result.log_tail
    return result, {name: series.y[-1] for name, series in result.metrics.items()}


# The recipe, generalised: look for the caller's secrets in every
# process's command line and environment that /proc shows.
SNOOP = source(
    """
    import os

    def run(config, log):
        found, visible = 0.0, 0.0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            visible += 1
            for name in ("cmdline", "environ"):
                try:
                    with open(f"/proc/{entry}/{name}", "rb") as proc_file:
                        found += config["secret"].encode() in proc_file.read()
                except OSError:
                    pass
        try:
            parent = open(f"/proc/{os.getppid()}/cmdline").read()
        except OSError as exc:
            parent = ""
        log(0, found=found, visible=visible, parent_seen=float(config["secret"] in parent))
    """
)

# Run by a parent whose command line holds a secret, as `tycho worker --token T` did.
PARENT_WITH_SECRET = """
import json, sys
from runner.execute import Limits, run_recipe
from runner.spec import SourceRecipe

recipe = SourceRecipe.model_validate_json(sys.argv[1])
result = run_recipe(recipe, {"secret": sys.argv[2]}, seed=0, limits=Limits(wall_seconds=120))
print(json.dumps({"error": result.error, "sandbox": (result.environment.sandbox
                  if result.environment else None),
                  "values": {k: s.y[-1] for k, s in result.metrics.items()}}))
"""


def test_a_recipe_sees_no_other_process_and_no_secret_in_a_command_line():
    secret = f"tyc_secret_{uuid.uuid4().hex}"
    project = os.path.dirname(os.path.dirname(os.path.abspath(runner.__file__)))
    finished = subprocess.run(
        [sys.executable, "-c", PARENT_WITH_SECRET, SNOOP.model_dump_json(), secret],
        cwd=project, capture_output=True, text=True, timeout=180)
    import json

    report = json.loads(finished.stdout.strip().splitlines()[-1])
    assert report["error"] is None, report
    assert report["values"]["parent_seen"] == 0.0
    if "own pid namespace" not in report["sandbox"]:
        pytest.skip(f"this kernel gave the sandbox no pid namespace: {report['sandbox']}")
    assert report["values"]["found"] == 0.0
    assert report["values"]["visible"] <= 2  # pid 1 and, below a pid namespace's init, none else


def test_scratch_space_is_private_bounded_and_gone_after_the_run():
    name = f"tycho-scratch-{uuid.uuid4().hex}"
    writer = source(
        f"""
        import errno, os

        def run(config, log):
            sizes = {{}}
            for directory in ("/tmp", "/var/tmp", "/dev/shm", os.environ["TMPDIR"], "."):
                path = os.path.join(directory, "{name}")
                with open(path, "wb") as scratch:
                    scratch.write(b"x" * 1024 * 1024)
            try:  # more than the 16 MB the run was given
                with open("/tmp/{name}-big", "wb") as scratch:
                    for _ in range(32):
                        scratch.write(b"x" * 1024 * 1024)
                        scratch.flush()
                full = 0.0
            except OSError as exc:
                full = float(exc.errno == errno.ENOSPC)
            log(0, full=full)
        """
    )
    result, values = run(writer)
    if "private /tmp" not in result.environment.sandbox:
        pytest.skip(f"this kernel gave the sandbox no mount namespace: {result.environment.sandbox}")
    assert values["full"] == 1.0
    for directory in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not os.path.exists(os.path.join(directory, name)), directory


PRIVILEGED = source(
    """
    import ctypes, errno, os

    libc = ctypes.CDLL(None, use_errno=True)

    def refused(result):
        return float(result == -1 and ctypes.get_errno() == errno.EPERM)

    def run(config, log):
        CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
        log(0,
            unshare_user=refused(libc.unshare(CLONE_NEWUSER)),
            unshare_mount=refused(libc.unshare(CLONE_NEWNS)),
            mount=refused(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)),
            ptrace=refused(libc.ptrace(0, 0, None, None)),  # PTRACE_TRACEME
            keyctl=refused(libc.syscall(250, 0, 0, 0, 0, 0)),  # keyctl on x86_64
            bpf=refused(libc.syscall(321, 0, 0, 0)))  # bpf on x86_64
    """
)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="raw syscall numbers are x86_64's")
def test_system_calls_a_toy_model_never_needs_are_refused():
    result, values = run(PRIVILEGED)
    if "seccomp" not in result.environment.sandbox:
        pytest.skip(f"no seccomp filter here: {result.environment.sandbox}")
    assert values == {"unshare_user": 1.0, "unshare_mount": 1.0, "mount": 1.0, "ptrace": 1.0,
                      "keyctl": 1.0, "bpf": 1.0}


def test_torch_trains_threads_and_forks_under_the_filter():
    trainer = source(
        """
        import os, threading
        import torch

        def run(config, log):
            model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
            data, target = torch.randn(256, 16), torch.randn(256, 1)
            for step in range(50):
                loss = torch.nn.functional.mse_loss(model(data), target)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            thread = threading.Thread(target=lambda: None)
            thread.start()
            thread.join()
            child = os.fork()
            if child == 0:
                os._exit(7)
            _, status = os.waitpid(child, 0)
            log(0, loss=loss, forked=float(os.waitstatus_to_exitcode(status) == 7),
                threads=torch.get_num_threads())
        """
    )
    result, values = run(trainer, threads=2)
    assert values["forked"] == 1.0 and values["threads"] == 2.0 and values["loss"] < 2
    assert "seccomp" in result.environment.sandbox or not sys.platform.startswith("linux")


def test_seeds_run_together_give_each_seed_its_own_series():
    quick = {"modulus": 23, "width": 64, "steps": 30}
    recipe = BuiltinRecipe(builtin="grokking")
    together = run_seeds_together(recipe, quick, [3, 4], limits=ROOMY)
    alone = run_recipe(recipe, quick, 4, limits=ROOMY)
    assert [run.seed for run in together] == [3, 4]
    assert all(run.status is RunStatus.ok for run in together), together[0].error
    assert together[1].metrics["test_loss"].y == alone.metrics["test_loss"].y
    assert together[0].metrics["test_loss"].y != alone.metrics["test_loss"].y
    assert together[0].environment.model_extra["batch_seeds"] == [3, 4]
    with pytest.raises(ValueError, match="built-in"):
        run_seeds_together(SourceRecipe(source="def run(c, log): pass"), {}, [1, 2])


def test_a_checkout_in_tmp_stays_reachable_under_the_private_tmp(tmp_path):
    """A project cloned into /tmp (tmp_path is there) must still run: the private /tmp
    that hides the host's files binds back what the run needs from it."""
    import shutil

    project = tmp_path / "checkout"
    for package in ("runner", "phenomena"):
        shutil.copytree(os.path.join(os.path.dirname(runner.__file__), "..", package),
                        project / package, ignore=shutil.ignore_patterns("__pycache__"))
    script = ("import json; from runner.execute import Limits, run_recipe; "
              "from runner.spec import SourceRecipe; import runner; "
              "recipe = SourceRecipe(source='def run(config, log):\\n    log(0, x=1.0)'); "
              "result = run_recipe(recipe, {}, seed=0, limits=Limits(wall_seconds=120)); "
              "print(json.dumps({'error': result.error, 'where': runner.__file__}))")
    done = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(project), "TYCHO_FORKSERVER": "0"})
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["where"].startswith(str(project))  # the copy in /tmp was the one run
    assert answer["error"] is None, answer
