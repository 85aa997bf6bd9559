"""Workers over loopback: many at once run each job exactly once; a killed worker's
job is finished by another after its lease lapses, and recorded once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx

from tests.conftest import TINY_RECIPE

SLOW_RECIPE = '''\
import time


def run(config, log):
    """Runs for a few seconds so that its worker can be killed mid-job."""
    for step in range(config.get("steps", 30)):
        time.sleep(0.2)
        log(step, value=float(step))
'''


def start_worker(server, token: str, log_path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "TYCHO_SERVER": server.url, "TYCHO_TOKEN": token}
    # A session of its own, so that a test can kill the worker's whole process group.
    return subprocess.Popen([sys.executable, "-m", "runner.cli", "worker", *args], env=env,
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def post(server, token: str, *, source: str, seed: int, claims: list[str], title: str) -> str:
    body = {"title": title, "recipe": {"source": source}, "seed": seed, "claims": claims,
            "metrics": {"value": {"x": [0], "y": [0.0]}, "mean": {"x": [0], "y": [0.5]},
                        "total": {"x": [0], "y": [0.5]}}}
    answer = httpx.post(f"{server.url}/api/v1/observations", json=body,
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_four_workers_run_forty_jobs_exactly_once(live_server, tmp_path):
    server = live_server(TYCHO_VERIFY_SEEDS="0")
    author = server.user_token("alice")
    refs = [post(server, author, source=TINY_RECIPE, seed=i, title=f"tiny {i}",
                 claims=["final(mean) between 0.2 and 0.8"]) for i in range(40)]
    token = server.worker_token()
    logs = [tmp_path / f"worker{i}.log" for i in range(4)]
    workers = [start_worker(server, token, log, "--worker-id", f"w{i}")
               for i, log in enumerate(logs)]
    try:
        def verdicts():
            page = httpx.get(f"{server.url}/api/v1/observations?limit=100", timeout=30).json()
            done = [o for o in page["items"] if o["verdict"] != "unverified"]
            return len(done) == 40 and page["items"]

        items = wait_for(verdicts, 240, "40 verdicts")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
    assert {o["verdict"] for o in items} == {"reproduced"}
    claimed = [int(job) for log in logs
               for job in re.findall(r"claimed job (\d+)", log.read_text())]
    assert sorted(claimed) == list(range(1, 41))  # every job once: none doubled, none lost
    for ref in refs:
        record = httpx.get(f"{server.url}/api/v1/observations/{ref}", timeout=30).json()
        assert [r["kind"] for r in record["runs"]] == ["author", "verification"]
        assert record["verification"]["attempts"] == 1


def test_a_killed_workers_job_is_finished_by_another_and_recorded_once(live_server, tmp_path):
    server = live_server(TYCHO_VERIFY_SEEDS="0", TYCHO_LEASE_SECONDS="3")
    ref = post(server, server.user_token("alice"), source=SLOW_RECIPE, seed=0,
               title="slow", claims=["final(value) == 29"])
    token = server.worker_token()
    doomed = start_worker(server, token, tmp_path / "doomed.log", "--worker-id", "doomed")

    def running():
        status = httpx.get(f"{server.url}/api/v1/observations/{ref}").json()["verification"]
        return status["status"] == "running" and status

    wait_for(running, 60, "the first worker to claim the job")
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    rescuer = start_worker(server, token, tmp_path / "rescuer.log", "--worker-id", "rescuer")
    try:
        def verdict():
            record = httpx.get(f"{server.url}/api/v1/observations/{ref}").json()
            return record["verdict"] != "unverified" and record

        record = wait_for(verdict, 120, "a verdict after the lease lapsed")
    finally:
        rescuer.send_signal(signal.SIGTERM)
        rescuer.wait(timeout=60)
    assert record["verdict"] == "reproduced"
    assert [(r["kind"], r["worker_id"]) for r in record["runs"]] == [
        ("author", None), ("verification", "rescuer")]
    assert record["verification"]["attempts"] == 2
    assert "lease lapsed on worker doomed" in record["verification"]["failures"][0]


def test_a_worker_with_a_refused_token_exits_nonzero_and_says_why(live_server):
    server = live_server()
    env = {**os.environ, "TYCHO_SERVER": server.url, "TYCHO_TOKEN": server.user_token("alice")}
    result = subprocess.run([sys.executable, "-m", "runner.cli", "worker", "--once"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "worker token" in result.stderr
