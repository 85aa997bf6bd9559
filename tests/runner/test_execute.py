"""The sandboxed executor: honest recipes run reproducibly, hostile ones end as errors.

Each hostile recipe shows that the calling process survives and gets
status=error with a message that says what happened. Recipes that do not need
torch avoid importing it, so that each run costs one Python start-up.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

import pytest

import phenomena
import runner
from runner.containment import PidsCgroup
from runner.execute import STOPPED_ERROR, Limits, run_recipe
from runner.reproduce import Stopped, reproduce
from runner.spec import BuiltinRecipe, ObservationSpec, RunStatus, SourceRecipe

# Generous for everything but the limit under test: ~8 workers share two cores,
# and starting the child can take seconds.
ROOMY = Limits(wall_seconds=120, cpu_seconds=60, memory_mb=2048, file_size_mb=8, max_processes=32)


def source(text: str) -> SourceRecipe:
    return SourceRecipe(source=textwrap.dedent(text))


def limits(**changes) -> Limits:
    return dataclasses.replace(ROOMY, **changes)


def final(result, name: str) -> float:
    return result.metrics[name].y[-1]


DETERMINISTIC = source(
    """
    import os, random
    import numpy as np
    import torch

    def run(config, log):
        print("working in", os.getcwd())
        model = torch.nn.Linear(8, 1)
        data = torch.randn(64, 8)
        target = data @ torch.randn(8, 1) + 0.1 * torch.randn(64, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"])
        for step in range(20):
            loss = ((model(data) - target) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            log(step, loss=loss, noise=random.random() + np.random.rand())
        log(0, axis="probe", deterministic=float(torch.are_deterministic_algorithms_enabled()),
            threads=torch.get_num_threads())
    """
)


def test_a_source_recipe_is_bitwise_reproducible_and_fingerprinted():
    points = []
    first = run_recipe(DETERMINISTIC, {"lr": 0.05}, seed=7, limits=ROOMY, on_point=points.append)
    second = run_recipe(DETERMINISTIC, {"lr": 0.05}, seed=7, limits=ROOMY)

    assert first.status is RunStatus.ok, first.error
    assert first.metrics["loss"].y == second.metrics["loss"].y  # bitwise: float equality
    assert first.metrics == second.metrics
    assert final(first, "loss") < first.metrics["loss"].y[0]
    assert final(first, "deterministic") == 1.0 and final(first, "threads") == 1.0
    assert len(points) == 21 and points[0]["axis"] == "step"
    env = first.environment
    assert env is not None and env.python and env.torch and env.cpu and env.threads == 1
    assert env.fingerprint() == second.environment.fingerprint()
    assert first.wall_time_s > 0 and first.cpu_time_s > 0 and first.peak_memory_mb > 10
    run_dir = first.log_tail.split("working in ", 1)[1].split()[0]
    assert not os.path.exists(run_dir), "the temporary working directory must be removed"


def _existing_builtin() -> str | None:
    for name, module in phenomena.BUILTINS.items():
        if importlib.util.find_spec(module) is not None:
            return name
    return None


@pytest.mark.skipif(_existing_builtin() is None, reason="no phenomena module written yet")
def test_a_builtin_recipe_runs_in_the_sandbox():
    name = _existing_builtin()
    quick = phenomena.get(name).quick
    result = run_recipe(BuiltinRecipe(builtin=name), quick, seed=0, limits=limits(wall_seconds=300))
    assert result.status is RunStatus.ok, result.error
    assert result.metrics


def test_an_unknown_builtin_or_bad_config_is_a_clear_error():
    result = run_recipe(BuiltinRecipe(builtin="no-such-thing"), {}, seed=0, limits=ROOMY)
    assert result.status is RunStatus.error
    assert "no built-in phenomenon 'no-such-thing'" in result.error


def test_a_missing_entrypoint_is_a_clear_error():
    result = run_recipe(source("def train(config, log): pass\n"), {}, seed=0, limits=ROOMY)
    assert result.status is RunStatus.error
    assert "defines no function 'run'" in result.error


def test_an_infinite_loop_is_stopped_by_the_wall_clock():
    result = run_recipe(source("def run(config, log):\n    while True: pass\n"), {}, seed=0,
                        limits=limits(wall_seconds=4))
    assert result.status is RunStatus.error
    assert "wall-clock limit of 4 s" in result.error
    assert result.wall_time_s < 15


def test_cpu_time_is_bounded():
    result = run_recipe(source("def run(config, log):\n    while True: pass\n"), {}, seed=0,
                        limits=limits(cpu_seconds=1))
    assert result.status is RunStatus.error
    assert "CPU-time limit of 1 s" in result.error


def test_a_memory_hog_hits_the_memory_limit():
    hog = source(
        """
        def run(config, log):
            hoard = []
            for step in range(100):
                hoard.append(bytearray(100 * 1024 * 1024))
                log(step, gigabytes=len(hoard) / 10)
        """
    )
    # Address space, not resident memory: a child of the warm fork server has
    # torch mapped (~0.9 GB) before the recipe allocates anything.
    result = run_recipe(hog, {}, seed=0, limits=limits(memory_mb=1536))
    assert result.status is RunStatus.error
    assert "ran out of memory" in result.error and "1536 MB" in result.error
    assert 0 < final(result, "gigabytes") < 1.5  # the points before the failure are kept


def _live_processes_named(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read()
        except OSError:
            continue
        # "pid (comm) state ...": zombies (Z) are dead, waiting for init to reap them
        if f"({name})" in fields and fields.rsplit(")", 1)[1].split()[0] != "Z":
            found.append(int(entry))
    return found


def test_a_fork_bomb_is_contained_and_cleaned_up():
    marker = f"bomb{uuid.uuid4().hex[:8]}"
    bomb = source(
        """
        import ctypes, os, time

        def run(config, log):
            ctypes.CDLL(None).prctl(15, config["marker"].encode(), 0, 0, 0)  # PR_SET_NAME
            forks = 0
            while True:
                if os.fork() == 0:
                    if config["leave_group"]:
                        os.setsid()  # out of the process group: killpg cannot see it
                    time.sleep(600)
                    os._exit(0)
                forks += 1
                log(forks, forks=forks)
        """
    )
    config = {"marker": marker, "leave_group": os.geteuid() == 0}
    result = run_recipe(bomb, config, seed=0, limits=limits(max_processes=16))
    assert result.status is RunStatus.error
    assert "could not start another process" in result.error and "16" in result.error
    assert final(result, "forks") < 16
    assert _live_processes_named(marker) == [], "processes of the recipe outlived the run"


def test_a_huge_file_hits_the_file_size_limit():
    writer = source(
        """
        def run(config, log):
            with open("big.bin", "wb") as out:
                for step in range(64):
                    out.write(b"x" * 1024 * 1024)
                    log(step, megabytes=step + 1)
        """
    )
    result = run_recipe(writer, {}, seed=0, limits=limits(file_size_mb=2))
    assert result.status is RunStatus.error
    assert "file larger than the limit of 2 MB" in result.error
    assert final(result, "megabytes") <= 2


def test_garbage_on_the_metrics_channel_is_an_error():
    vandal = source(
        """
        import os

        def run(config, log):
            log(0, loss=1.0)
            for fd in range(3, 21):
                try:
                    os.write(fd, b"\\x00garbage{not json\\n")
                except OSError:
                    pass
            log(1, loss=0.5)
        """
    )
    result = run_recipe(vandal, {}, seed=0, limits=ROOMY)
    assert result.status is RunStatus.error
    assert "metrics channel received a malformed line (it is not JSON)" in result.error


def test_a_metrics_channel_over_its_bound_is_an_error():
    chatty = source("def run(config, log):\n    for step in range(5000):\n        log(step, x=1)\n")
    result = run_recipe(chatty, {}, seed=0, limits=limits(max_metric_bytes=20_000))
    assert result.status is RunStatus.error
    assert "more than" in result.error and "metrics channel" in result.error


def test_secrets_in_the_callers_environment_do_not_reach_the_recipe(monkeypatch):
    monkeypatch.setenv("TYCHO_TOKEN", "tok-do-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-do-not-leak")
    snoop = source(
        """
        import os

        def run(config, log):
            seen = "\\n".join(f"{k}={v}" for k, v in os.environ.items())
            print(sorted(os.environ))
            log(0, saw_token=float("TYCHO_TOKEN" in os.environ),
                saw_secret_value=float("do-not-leak" in seen))
        """
    )
    result = run_recipe(snoop, {}, seed=0, limits=ROOMY)
    assert result.status is RunStatus.ok, result.error
    assert final(result, "saw_token") == 0.0
    assert final(result, "saw_secret_value") == 0.0
    assert "TYCHO" not in result.log_tail and "AWS" not in result.log_tail


def test_the_network_is_unreachable_where_the_kernel_allows_isolation():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        caller = source(
            """
            import socket

            def run(config, log):
                try:
                    socket.create_connection(("127.0.0.1", config["port"]), timeout=5).close()
                    connected = 1.0
                except OSError as exc:
                    print("connect failed:", exc)
                    connected = 0.0
                log(0, connected=connected)
            """
        )
        result = run_recipe(caller, {"port": listener.getsockname()[1]}, seed=0, limits=ROOMY)
        assert result.status is RunStatus.ok, result.error
        if result.network_isolated:
            assert final(result, "connected") == 0.0
            with pytest.raises(BlockingIOError):
                listener.accept()  # nothing ever arrived on the host side
        else:
            assert result.network_isolated is False
            assert final(result, "connected") == 1.0


def test_a_crash_reports_the_traceback():
    crash = source(
        """
        def run(config, log):
            log(0, loss=1.0)
            return helper(config)

        def helper(config):
            raise ValueError("the learning rate must be positive")
        """
    )
    result = run_recipe(crash, {}, seed=0, limits=ROOMY)
    assert result.status is RunStatus.error
    assert "ValueError: the learning rate must be positive" in result.error
    assert "recipe.py" in result.error and "in helper" in result.error
    assert "Traceback" in result.log_tail
    assert result.metrics["loss"].y == [1.0]


def test_a_traceback_names_the_author_s_file_once_without_runner_frames():
    """Issue 12, friction 7: it printed twice, named a temporary recipe.py and showed the
    runner's own frames."""
    crash = source(
        """
        def run(config, log):
            print("training")
            log(0, loss="high")
        """
    )
    result = run_recipe(crash, {}, seed=0, limits=ROOMY, source_name="my_toy.py")
    assert result.error.startswith("the recipe logged an invalid metric")
    assert 'File "my_toy.py", line 4, in run' in result.error
    assert 'log(0, loss="high")' in result.error  # the line itself, from the source
    for text in (result.error, result.log_tail):
        assert "runner/" not in text and "_child.py" not in text, text
    assert result.log_tail.count("Traceback") == 1
    assert result.log_tail.startswith("training\n")


def test_output_streams_while_the_recipe_runs_and_its_own_time_is_measured():
    chatty = source(
        """
        import time

        def run(config, log):
            print("first", flush=True)
            time.sleep(0.5)
            print("second")
            log(0, loss=1.0)
        """
    )
    seen = []
    result = run_recipe(chatty, {}, seed=0, limits=ROOMY,
                        on_output=lambda chunk: seen.append((time.monotonic(), chunk)))
    assert result.status is RunStatus.ok, result.error
    assert b"".join(chunk for _, chunk in seen) == b"first\nsecond\n"
    assert seen[-1][0] - seen[0][0] >= 0.4  # "first" arrived before the recipe slept
    assert 0.5 <= result.recipe_time_s < result.wall_time_s


def test_exiting_without_finishing_is_an_error():
    quitter = source("import os\n\ndef run(config, log):\n    log(0, loss=1.0)\n    os._exit(0)\n")
    result = run_recipe(quitter, {}, seed=0, limits=ROOMY)
    assert result.status is RunStatus.error
    assert "exited (code 0) before the recipe returned" in result.error


def test_a_flood_of_output_keeps_only_a_bounded_tail():
    talker = source(
        """
        def run(config, log):
            for i in range(50_000):
                print("line", i, "of chatter")
            print("the very last line")
            log(0, done=1.0)
        """
    )
    result = run_recipe(talker, {}, seed=0, limits=limits(log_tail_bytes=4096))
    assert result.status is RunStatus.ok, result.error
    assert len(result.log_tail.encode()) <= 4096 + 100
    assert result.log_tail.rstrip().endswith("the very last line")
    assert "earlier bytes of output not kept" in result.log_tail


def test_a_config_that_is_not_json_is_a_clear_error():
    recipe = source("def run(config, log): pass\n")
    result = run_recipe(recipe, {"lr": object()}, seed=0, limits=ROOMY)
    assert result.status is RunStatus.error
    assert "config values must be JSON" in result.error


class StopRun(Exception):
    pass


def test_an_exception_in_the_progress_callback_stops_the_run_and_propagates():
    marker = f"slow{uuid.uuid4().hex[:8]}"
    endless = source(
        """
        import ctypes, time

        def run(config, log):
            ctypes.CDLL(None).prctl(15, config["marker"].encode(), 0, 0, 0)  # PR_SET_NAME
            step = 0
            while True:
                log(step, loss=1.0 / (step + 1))
                step += 1
                time.sleep(0.01)
        """
    )

    def stop_after_three(point):
        if point["x"] >= 2:
            raise StopRun()

    with pytest.raises(StopRun):
        run_recipe(endless, {"marker": marker}, seed=0, limits=ROOMY, on_point=stop_after_three)
    assert _live_processes_named(marker) == []


def _poll(condition, seconds: float) -> bool:
    """Whether `condition()` became true within `seconds` (checked every 20 ms)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# Run by a parent process that the test then SIGKILLs. Run dirs go to argv[1]
# (they leak with the parent); it prints "started" once the recipe has logged.
KILLED_PARENT = """
import sys, tempfile
from runner.execute import Limits, run_recipe
from runner.spec import SourceRecipe

tempfile.tempdir = sys.argv[1]
recipe = SourceRecipe.model_validate_json(sys.argv[3])
run_recipe(recipe, {"marker": sys.argv[2]}, seed=0, limits=Limits(wall_seconds=120),
           on_point=lambda point: print("started", flush=True))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("forkserver", ["1", "0"])
def test_the_recipe_dies_with_a_killed_parent(forkserver):
    sleeper = source(
        """
        import ctypes, os, time

        def run(config, log):
            ctypes.CDLL(None).prctl(15, config["marker"].encode(), 0, 0, 0)  # PR_SET_NAME
            if os.fork() == 0:  # a process of its own, to die too
                time.sleep(60)
                os._exit(0)
            log(0, running=1.0)
            time.sleep(60)
        """
    )
    marker = f"orphan{uuid.uuid4().hex[:8]}"
    scratch = tempfile.mkdtemp(prefix="tycho-test-")
    project = os.path.dirname(os.path.dirname(os.path.abspath(runner.__file__)))
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, scratch, marker, sleeper.model_dump_json()],
        cwd=project, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "TYCHO_FORKSERVER": forkserver})
    try:
        assert parent.stdout.readline().strip() == "started", "the recipe never started"
        assert len(_live_processes_named(marker)) == 2
        parent.kill()
        parent.wait()
        assert _poll(lambda: _live_processes_named(marker) == [], 5), \
            "the recipe outlived the parent that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in _live_processes_named(marker):
            os.kill(pid, signal.SIGKILL)
        # What a killed parent leaves: its run dir and, as root, its pids cgroup.
        shutil.rmtree(scratch, ignore_errors=True)
        for hierarchy in (PidsCgroup.V1_PIDS, PidsCgroup.V2_ROOT):
            for path in glob.glob(f"{hierarchy}/tycho-run-{parent.pid}-*"):
                PidsCgroup(path).remove()


STOPPABLE = source(
    """
    import ctypes, os, time

    def run(config, log):
        ctypes.CDLL(None).prctl(15, config["marker"].encode(), 0, 0, 0)  # PR_SET_NAME
        if os.fork() == 0:  # a process of its own, to be killed too
            time.sleep(30)
            os._exit(0)
        log(0, running=1.0)
        time.sleep(30)
    """
)


class StopLater:
    """A should_stop that turns true `delay` s after the recipe's first point."""

    def __init__(self, delay: float = 0.5) -> None:
        self.delay, self.running, self.asked = delay, None, None

    def on_point(self, point: dict) -> None:
        self.running = self.running or time.monotonic()

    def __call__(self) -> bool:
        stop = self.running is not None and time.monotonic() > self.running + self.delay
        if stop and self.asked is None:
            self.asked = time.monotonic()
        return stop


def test_a_run_the_caller_stops_ends_at_once_and_leaves_nothing_behind():
    marker = f"stop{uuid.uuid4().hex[:8]}"
    stop = StopLater()
    result = run_recipe(STOPPABLE, {"marker": marker}, seed=0, limits=ROOMY,
                        on_point=stop.on_point, should_stop=stop)
    returned = time.monotonic()
    assert result.status is RunStatus.error and result.error == STOPPED_ERROR
    assert stop.asked is not None and returned - stop.asked < 1.5, "the stop took too long"
    assert returned - stop.running < 2.5
    assert result.metrics["running"].y == [1.0]  # the points before the stop are kept
    assert _live_processes_named(marker) == [], "processes of the recipe outlived the stop"


def test_reproduce_raises_stopped_when_asked_to_stop_during_a_seed():
    marker = f"stop{uuid.uuid4().hex[:8]}"
    spec = ObservationSpec(recipe=STOPPABLE, config={"marker": marker})
    stop, finished = StopLater(), []
    with pytest.raises(Stopped):
        reproduce(spec, [0, 1], limits=ROOMY, on_point=lambda seed, point: stop.on_point(point),
                  on_run=finished.append, should_stop=stop)
    assert stop.asked is not None and time.monotonic() - stop.asked < 1.5
    assert finished == [], "a killed seed is no result"
    assert _live_processes_named(marker) == []


def test_a_recipe_cannot_pass_its_failure_off_as_a_stop():
    forger = source(
        f"""
        import os

        def run(config, log):
            line = {json.dumps(json.dumps({"failed": STOPPED_ERROR}) + chr(10))}.encode()
            for fd in range(3, 21):
                try:
                    os.write(fd, line)
                except OSError:
                    pass
            os._exit(1)
        """
    )
    result = run_recipe(forger, {}, seed=0, limits=ROOMY, should_stop=lambda: False)
    assert result.status is RunStatus.error
    assert result.error != STOPPED_ERROR and "only the caller can say" in result.error
