"""Helpers for the page tests: post observations and verify them through the API."""

from __future__ import annotations

import pytest

from runner.spec import ClaimResult, JobComplete, RunResult, Verdict
from server.users.accounts import create_user_with_token, issue_token_for

GROKKING_CLAIMS = ["final(test_acc) >= 0.95",
                   "first_step(test_acc >= 0.95) >= 2 * first_step(train_acc >= 0.99)"]


@pytest.fixture
def worker(settings) -> dict[str, str]:
    """Auth headers of a worker token."""
    url = settings.resolved_database_url()
    create_user_with_token(url, handle="worker")
    return {"Authorization": f"Bearer {issue_token_for(url, handle='worker', scope='worker')}"}


@pytest.fixture
def verify(client, worker):
    """Claim the next job and complete it: the original seed and two fresh seeds, the
    second claim failing on the last seed (so the version is `fragile`)."""

    def run_worker(verdict: Verdict = Verdict.fragile) -> dict:
        job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
        runs = []
        for i, seed in enumerate(job["seeds"]):
            last = i == len(job["seeds"]) - 1
            runs.append(RunResult(
                status="ok", seed=seed,
                metrics={"train_acc": {"x": [0, 100, 200, 300], "y": [0.1, 1.0, 1.0, 1.0]},
                         "test_acc": {"x": [0, 100, 200, 300], "y": [0.02, 0.1, 0.6, 0.98]}},
                claims=[ClaimResult(claim=GROKKING_CLAIMS[0], holds=True,
                                    detail="final(test_acc) = 0.98, needed >= 0.95"),
                        ClaimResult(claim=GROKKING_CLAIMS[1], holds=not last,
                                    detail=f"300 >= 2 * 100 on seed {seed}")],
            ))
        body = JobComplete(worker_id="w1", runs=runs, verdict=verdict, reason="claim 2 fragile",
                           pass_rates={GROKKING_CLAIMS[0]: 1.0, GROKKING_CLAIMS[1]: 0.5})
        answer = client.post(f"/api/v1/jobs/{job['job_id']}/complete",
                             json=body.model_dump(mode="json"), headers=worker)
        assert answer.status_code == 200, answer.text
        return job

    return run_worker
