"""A small HTTP client for a Tycho registry, friendly from a notebook (`tycho.Client`).

    import tycho
    registry = tycho.Client()             # TYCHO_SERVER / TYCHO_TOKEN, else localhost
    registry.post_observation(title=..., recipe={"builtin": "grokking"}, metrics=..., claims=[...])
    obs = registry.get_observation("T-42")
    obs["verdict"], obs.metrics["test_acc"].y, obs.to_pandas(), obs.plot()

Observations come back as `runner.observation.Observation`: the API record (a
dict), with its curves as numpy arrays, a DataFrame, a figure and an HTML view.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from typing import Any

import httpx

from runner.observation import Observation
from runner.spec import (
    JobAssignment,
    JobComplete,
    JobHeartbeat,
    JobProgress,
    ObservationCreate,
    ObservationSpec,
    RunResult,
)

DEFAULT_SERVER = "http://127.0.0.1:8000"
# Posting a long run can take a while on a busy registry; reads are quick.
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# A worker's result is compressed at a level that is fast and still small (6 is 3x slower
# for a few per cent less).
GZIP_LEVEL = 1


class TychoError(Exception):
    """The registry refused a request; `str()` is its explanation."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{title} ({status}): {detail}")
        self.status = status
        self.title = title
        self.detail = detail


def default_server() -> str:
    return os.environ.get("TYCHO_SERVER") or DEFAULT_SERVER


class Client:
    """Talks to one registry with an optional token (writes need one)."""

    def __init__(self, server: str | None = None, token: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.server = (server or default_server()).rstrip("/")
        self.token = token if token is not None else os.environ.get("TYCHO_TOKEN")
        headers = {"User-Agent": "tycho-client"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx.Client(
            base_url=self.server + "/api/v1", headers=headers, timeout=TIMEOUT,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise TychoError(0, "Cannot reach the registry", f"{self.server}: {exc}") from None
        if response.status_code == 204:
            return None
        if response.status_code >= 400:
            try:
                problem = response.json()
                raise TychoError(response.status_code, problem.get("title", "Error"),
                                 problem.get("detail", response.text))
            except ValueError:
                raise TychoError(response.status_code, "Error", response.text[:500]) from None
        if response.headers.get("content-type", "").startswith(("application/json",
                                                               "application/problem")):
            return response.json()
        return response.text

    # --- registry ------------------------------------------------------------
    def health(self) -> dict:
        return self._request("GET", "/health")

    def phenomena(self) -> list[dict]:
        return self._request("GET", "/phenomena")

    def register(self, handle: str, display_name: str = "", **profile: Any) -> dict:
        """Create a user; the answer's token is shown once (also set on this client)."""
        created = self._request("POST", "/users",
                                json={"handle": handle, "display_name": display_name, **profile})
        self.token = created["token"]
        self._http.headers["Authorization"] = f"Bearer {self.token}"
        return created

    def post_observation(self, observation: ObservationCreate | dict | None = None,
                         **fields: Any) -> dict:
        """Publish an observation; pass an ObservationCreate, a dict, or its fields."""
        body = observation if observation is not None else fields
        if not isinstance(body, ObservationCreate):
            body = ObservationCreate.model_validate(body)
        created = self._request("POST", "/observations", json=body.model_dump(mode="json"))
        return Observation(created, client=self)

    def get_observation(self, ref: str) -> Observation:
        """One observation (`T-42`, `T-42v2`): the record, with its curves a call away."""
        return Observation(self._request("GET", f"/observations/{ref}"), client=self)

    observation = get_observation

    def wait_for_verdict(self, ref: str, timeout: float = 600.0,
                         every: float = 2.0) -> Observation:
        """The observation once verification has given it a verdict (TimeoutError after
        `timeout` seconds): for a notebook that posted it a moment ago."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.get_observation(ref)
            if record["verdict"] != "unverified":
                return record
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{ref} has no verdict after {timeout:g} s; its verification "
                                   f"is {(record.get('verification') or {}).get('status')}")
            time.sleep(every)

    def list_observations(self, **filters: Any) -> dict:
        """One page: filters phenomenon, tag, author, verdict, q, cursor, limit."""
        params = {k: v for k, v in filters.items() if v is not None}
        page = self._request("GET", "/observations", params=params)
        page["items"] = [Observation(item, client=self) for item in page["items"]]
        return page

    def search(self, q: str, **filters: Any) -> list[Observation]:
        return self.list_observations(q=q, **filters)["items"]

    def spec(self, ref: str) -> ObservationSpec:
        return ObservationSpec.model_validate(self._request("GET", f"/observations/{ref}/spec"))

    def metrics(self, ref: str, runs: bool = False) -> dict:
        return self._request("GET", f"/observations/{ref}/metrics",
                             params={"runs": "true"} if runs else None)

    def post_version(self, ref: str, change_message: str, **fields: Any) -> dict:
        body = ObservationCreate.model_validate(fields).model_dump(mode="json")
        return self._request("POST", f"/observations/{ref}/versions",
                             json={**body, "change_message": change_message})

    def links(self, ref: str) -> dict:
        return self._request("GET", f"/observations/{ref}/links")

    def link(self, ref: str, relation: str, target: str | None = None, *,
             targets: list[str] | None = None, phenomenon: str | None = None,
             external: str | None = None, note: str = "") -> list[dict]:
        body = {"relation": relation, "target": target, "targets": targets or [],
                "phenomenon": phenomenon, "external": external, "note": note}
        return self._request("POST", f"/observations/{ref}/links", json=body)

    def comments(self, ref: str) -> list[dict]:
        return self._request("GET", f"/observations/{ref}/comments")

    def comment(self, ref: str, body: str, *, parent: int | None = None,
                series: str | None = None, x: float | None = None) -> dict:
        return self._request("POST", f"/observations/{ref}/comments",
                             json={"body": body, "parent": parent, "series": series, "x": x})

    def reproductions(self, ref: str) -> dict:
        """Independent reproductions and failures, next to the worker's verdict."""
        record = self.get_observation(ref)
        return {"verdict": record["verdict"], **record.get("reproductions", {})}

    def graph(self, ref: str, depth: int = 1) -> dict:
        return self._request("GET", f"/observations/{ref}/graph", params={"depth": depth})

    def cite(self, ref: str, format: str = "bibtex", chain: bool = False, depth: int = 2) -> str:
        params = {"format": format}
        if chain:
            params.update(chain="true", depth=str(depth))
        answer = self._request("GET", f"/observations/{ref}/cite", params=params)
        return answer if isinstance(answer, str) else json.dumps(answer, indent=2)

    # --- worker protocol -----------------------------------------------------
    # --- sweeps run on the registry's workers (`tycho sweep --server`) -----------------

    def start_sweep(self, recipe: dict, config: dict, sweep: dict) -> dict:
        """Queue every cell of a sweep for the workers: {id, total, done, cells, ...}."""
        return self._request("POST", "/sweeps",
                             json={"recipe": recipe, "config": config, "sweep": sweep})

    def sweep_status(self, sweep_id: int) -> dict:
        return self._request("GET", f"/sweeps/{sweep_id}")

    def sweep_runs(self, sweep_id: int, after: int = 0) -> tuple[list[RunResult], int | None]:
        """One page of finished runs after result `after`, and the page's last id."""
        page = self._request("GET", f"/sweeps/{sweep_id}/runs", params={"after": after})
        return [RunResult.model_validate(run) for run in page["runs"]], page["last"]

    # --- the worker protocol --------------------------------------------------------------

    def claim_job(self, worker_id: str) -> JobAssignment | None:
        answer = self._request("POST", "/jobs/claim", json={"worker_id": worker_id})
        return None if answer is None else JobAssignment.model_validate(answer)

    def heartbeat(self, job_id: int, worker_id: str, progress: JobProgress | None = None) -> dict:
        """Extend the lease, and tell the registry how far the job is."""
        body = JobHeartbeat(worker_id=worker_id, progress=progress)
        return self._request("POST", f"/jobs/{job_id}/heartbeat",
                             json=body.model_dump(mode="json", exclude_none=True))

    def complete_job(self, job_id: int, result: JobComplete) -> dict:
        """Send a job's result gzip-compressed: the runs of every seed can be tens of MB of
        JSON, which compresses several-fold (the registry's limit is on the inflated size)."""
        body = gzip.compress(result.model_dump_json().encode(), compresslevel=GZIP_LEVEL, mtime=0)
        return self._request("POST", f"/jobs/{job_id}/complete", content=body,
                             headers={"Content-Type": "application/json",
                                      "Content-Encoding": "gzip"})

    def fail_job(self, job_id: int, worker_id: str, reason: str) -> dict:
        return self._request("POST", f"/jobs/{job_id}/fail",
                             json={"worker_id": worker_id, "reason": reason[-20_000:]})

    def release_job(self, job_id: int, worker_id: str) -> dict:
        return self._request("POST", f"/jobs/{job_id}/release", json={"worker_id": worker_id})
