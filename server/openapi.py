"""Every status code an API operation can answer, documented in the OpenAPI (issue 11).

The errors come from a few places shared by many routes (the request limits, the
validation of ids and bodies, the token check, the lookup of a reference, a
conflicting write, a busy database), so they are documented from what a route
is, not written out by hand on each: a route that takes a token can answer 401
and 403, one with a path parameter 404, a write 409 and 413, and so on. The
schemathesis test (tests/server/test_schemathesis.py) holds this to the truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from server.errors import PROBLEM_JSON

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class ProblemDetails(BaseModel):
    """An error as application/problem+json (RFC 9457); `errors` lists what was invalid."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str


PROBLEM_SCHEMA = ProblemDetails.model_json_schema()

MEANINGS = {
    204: "Nothing to give (no job is ready)",
    400: "A NUL character in the URL, or a gzip body that does not inflate",
    401: "No token, or one that is unknown or revoked",
    403: "The token may not do this (its scope, or another account's item)",
    404: "No such item",
    409: "The item changed meanwhile or conflicts with this request (a taken name, a "
         "withdrawn observation, a lapsed lease)",
    413: "The body is over its limit (TYCHO_MAX_BODY_BYTES, or TYCHO_MAX_RESULT_BYTES for a "
         "worker's result), or a text over its cap",
    415: "The body's Content-Encoding is neither identity nor gzip",
    422: "Invalid input: the problem's `errors` say where and why",
    503: "The database is busy; nothing was stored. Retry after the Retry-After seconds",
}


def _calls(dependant: Dependant) -> set[str]:
    found = set()
    for sub in dependant.dependencies:
        found.add(getattr(sub.call, "__name__", ""))
        found |= _calls(sub)
    return found


def statuses(route: APIRoute) -> set[int]:
    """The error statuses `route` can answer besides its own success."""
    codes = {400, 422, 503}
    methods = route.methods or set()
    if "{" in route.path:
        codes.add(404)
    if methods & WRITES:
        codes |= {409, 413, 415}
    if _calls(route.dependant) & {"_writer", "_worker", "_admin"}:
        codes |= {401, 403}
    return codes


def document_statuses(routers: Iterable[APIRouter],
                      extra: dict[str, set[int]] | None = None) -> None:
    """Add every status each operation of `routers` answers to its `responses`
    (problem+json), before the routers are included in an app; `extra` names further
    statuses by the route's name (e.g. claim's 204). Done twice, it changes nothing."""
    extra = extra or {}
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for code in sorted(statuses(route) | extra.get(route.name, set())):
                if code not in route.responses and str(code) not in route.responses:
                    route.responses[code] = _response(code)


def _response(code: int) -> dict[str, Any]:
    if code == 204:
        return {"description": MEANINGS[204]}
    response: dict[str, Any] = {
        "description": MEANINGS[code],
        "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
    }
    if code == 503:
        response["headers"] = {"Retry-After": {
            "description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
    return response
