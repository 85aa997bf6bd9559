"""`tycho sweep` end to end: run a grid, resume it, post it, and let two workers verify it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.runner.test_cli import tycho

# The loss first reaches 0.5 at step 5 * (1 + decay) + seed % 2: a knob with a clear
# effect and a seed that moves it a little, so a fresh seed agrees within tolerance.
TOY = '''\
def run(config, log):
    cross = 5 * (1 + config["decay"]) + config["seed"] % 2
    for step in range(40):
        log(step, loss=1.0 if step < cross else 0.4)
'''


def test_a_sweep_runs_resumes_posts_and_is_verified(live_server, tmp_path):
    recipe = tmp_path / "toy.py"
    recipe.write_text(TOY)
    out = tmp_path / "sweep"
    args = ("sweep", str(recipe), "--grid", "decay=0:2:3", "--seeds", "2",
            "--measure", "cross=first_step(loss <= 0.5)",
            "--claim", "loglog_slope(cross) >= 0", "--claim", "at(cross, 2) >= 2 * at(cross, 0)",
            "--out", str(out), "--parallel", "2")
    first = tycho(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "[6/6]" in first.stderr and "post it with: tycho post" in first.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cross"]["axis"] == "decay" and metrics["cross"]["y"] == [5.5, 10.5, 15.5]
    assert metrics["cross_min"]["y"] == [5, 10, 15]

    again = tycho(*args, cwd=tmp_path)  # nothing left to run: it resumes and reduces
    assert again.returncode == 0 and "resuming: 6 done" in again.stderr
    assert "[1/6]" not in again.stderr

    bad = tycho("sweep", str(recipe), "--grid", "decay=0,1", "--measure", "c=final(loss)",
                "--claim", "final(lost) > 0", cwd=tmp_path)
    assert bad.returncode == 2 and "lost" in bad.stderr  # checked before anything runs
    assert not (tmp_path / "tycho-sweeps").exists()

    server = live_server(TYCHO_SWEEP_VERIFY_RUNS="2")
    env = {"TYCHO_SERVER": server.url, "TYCHO_TOKEN": server.user_token("alice")}
    posted = tycho("post", str(out), "--title", "The crossing moves with decay", env=env)
    assert posted.returncode == 0, posted.stdout + posted.stderr
    ref = posted.stdout.strip().splitlines()[-1]
    # Two workers at once: the sweep's two sampled cells are two jobs, one each.
    worker_env = {**os.environ, "COLUMNS": "200", "TYCHO_SERVER": server.url,
                  "TYCHO_TOKEN": server.worker_token()}
    workers = [subprocess.Popen([sys.executable, "-m", "tycho.cli", "worker", "--once",
                                 "--worker-id", name], env=worker_env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for name in ("w1", "w2")]
    for worker in workers:
        output = worker.communicate(timeout=300)[0]
        assert worker.returncode == 0, output
    shown = tycho("show", ref, "--json", env=env)
    record = json.loads(shown.stdout)
    assert record["verdict"] == "robust", record["verdict_reason"]
    assert "re-ran 2 of 3 cells on fresh seed 2: (decay=0), (decay=2)" in record[
        "verdict_reason"]
    assert sum(run["kind"] == "cell" for run in record["runs"]) == 6
    checked = sorted((run["worker_id"], run["cell"]["decay"]) for run in record["runs"]
                     if run["kind"] == "verification")
    assert [worker for worker, _ in checked] == ["w1", "w2"]  # split, each cell once
    assert sorted(decay for _, decay in checked) == [0, 2]


# The same toy, slower: each cell takes a few seconds, so both workers get some.
SLOW_TOY = "import time\n" + TOY.replace("    for step", "    time.sleep(3)\n    for step")


@pytest.mark.slow  # multi-worker: CI's slow suite
def test_a_sweep_runs_on_the_registrys_workers_split_between_them(live_server, tmp_path):
    recipe = tmp_path / "toy.py"
    recipe.write_text(SLOW_TOY)
    server = live_server()
    env = {"TYCHO_TOKEN": server.user_token("alice")}
    worker_env = {**os.environ, "COLUMNS": "200", "TYCHO_SERVER": server.url,
                  "TYCHO_TOKEN": server.worker_token()}
    # Two workers taking jobs until they are stopped (each cell is one job).
    workers = [subprocess.Popen([sys.executable, "-m", "tycho.cli", "worker", "--worker-id",
                                 name], env=worker_env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT) for name in ("w1", "w2")]
    args = ("sweep", str(recipe), "--grid", "decay=0,1,2,3", "--seeds", "2",
            "--measure", "cross=first_step(loss <= 0.5)", "--claim", "loglog_slope(cross) >= 0",
            "--out", str(tmp_path / "remote"), "--server", server.url)
    try:
        swept = tycho(*args, env=env, cwd=tmp_path)
        again = tycho(*args, env=env, cwd=tmp_path)  # everything is back: it only reduces
    finally:
        for worker in workers:
            worker.terminate()
        logs = [worker.communicate(timeout=60)[0] for worker in workers]
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "queued 4 cells (8 runs) as sweep 1" in swept.stderr and "[8/8]" in swept.stderr
    metrics = json.loads((tmp_path / "remote" / "metrics.json").read_text())
    assert metrics["cross"]["y"] == [5.5, 10.5, 15.5, 20.5]  # as the local sweep above
    assert again.returncode == 0 and "collecting sweep 1" in again.stderr
    assert "[1/8]" not in again.stderr
    finished = [log.count("finished job") for log in logs]
    assert sum(finished) == 4 and all(finished), logs  # each cell once, both workers busy
