"""Errors as application/problem+json (RFC 9457) with a message a person can act on."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("tycho.server")

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error to report to the client; raise it from services and routes."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra


def not_found(what: str, detail: str) -> Problem:
    return Problem(404, f"{what} not found", detail)


def invalid(detail: str, **extra: Any) -> Problem:
    return Problem(422, "Invalid input", detail, **extra)


def problem_response(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    # Drop pydantic's union-branch names ("BuiltinRecipe", "function-after[...]").
    parts = [p for p in parts if not (p[:1].isupper() or "[" in p)]
    return ".".join(parts) or "body"


def _validation_message(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        position = error.get("loc", ("body", "?"))[-1]
        why = (error.get("ctx") or {}).get("error", "")
        return (f"the body is not valid JSON at character {position} ({why}); "
                "JSON has no NaN or Infinity: send null for a value that is not a finite number")
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": "body" if e.get("type") == "json_invalid"
             else _location(tuple(e.get("loc", ()))), "message": _validation_message(e)}
            for e in exc.errors()
        ]
        # Unions report one error per branch; keep the first of each location.
        seen, unique = set(), []
        for e in errors:
            key = (e["location"], e["message"])
            if key not in seen:
                seen.add(key)
                unique.append(e)
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in unique[:10])
        return problem_response(422, "Invalid input", detail, errors=unique)

    @app.exception_handler(IntegrityError)
    async def _conflict(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Two writers raced for the same unique row (a version number, a handle).
        return problem_response(
            409, "Conflict", "another request changed the same record at the same time; "
            "read it again and retry"
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error", exc_info=exc)
        return problem_response(
            500, "Internal error", "the server failed unexpectedly; the error was logged, "
            "and nothing from this request was stored"
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized"}
        return problem_response(
            exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail)
        )


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413, before parsing."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        # Read the body here, counting (a chunked body declares no length, and a
        # declared one may lie), and hand the app a replay. Raising inside
        # receive() would reach FastAPI's body parser as a 400, not a 413.
        chunks, received = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any) -> None:
        response = problem_response(
            413,
            "Request body too large",
            f"the body is over the limit of {self.max_bytes:,} bytes "
            "(TYCHO_MAX_BODY_BYTES); log fewer points or fewer series",
        )
        await response(scope, receive, send)

