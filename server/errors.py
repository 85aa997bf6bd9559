"""Errors as application/problem+json (RFC 9457) with a message a person can act on."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.db import DatabaseBusy

logger = logging.getLogger("tycho.server")

PROBLEM_JSON = "application/problem+json"
ModelT = TypeVar("ModelT", bound=BaseModel)


# When a client told "busy" (503) should try again, in seconds.
RETRY_AFTER_S = 2


def busy_response() -> JSONResponse:
    """503 with Retry-After: the database did not take the request in time."""
    response = problem_response(
        503, "Busy", "the registry has more requests than it can take right now; nothing "
        f"from this request was stored: try again in {RETRY_AFTER_S} s")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


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


def _invalid_input(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """A sentence and a list of {location, message} for pydantic's errors."""
    found = [
        {"location": "body" if e.get("type") == "json_invalid"
         else _location(tuple(e.get("loc", ()))), "message": _validation_message(e)}
        for e in errors
    ]
    # Unions report one error per branch; keep the first of each location.
    seen, unique = set(), []
    for e in found:
        key = (e["location"], e["message"])
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return "; ".join(f"{e['location']}: {e['message']}" for e in unique[:10]), unique


def validated(model: type[ModelT], **data: Any) -> ModelT:
    """`model` built from `data` (a page's form), or a 422 Problem saying what is wrong,
    as the API says it of a JSON body."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        detail, errors = _invalid_input(exc.errors())
        raise invalid(detail, errors=errors) from None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _invalid_input(list(exc.errors()))
        return problem_response(422, "Invalid input", detail, errors=errors)

    @app.exception_handler(IntegrityError)
    async def _conflict(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Two writers raced for the same unique row (a version number, a handle).
        return problem_response(
            409, "Conflict", "another request changed the same record at the same time; "
            "read it again and retry"
        )

    @app.exception_handler(DatabaseBusy)
    @app.exception_handler(PoolTimeout)
    async def _busy(_request: Request, exc: Exception) -> JSONResponse:
        return busy_response()

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> JSONResponse:
        # Another process (`tycho user create`) held SQLite's lock past busy_timeout.
        if "database is locked" in str(exc.orig) or "database is busy" in str(exc.orig):
            return busy_response()
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, StatementError) and isinstance(exc.orig, DatabaseBusy):
            return busy_response()
        logger.exception("unexpected error", exc_info=exc)
        return problem_response(
            500, "Internal error", "the server failed unexpectedly; the error was logged, "
            "and nothing from this request was stored"
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized"}
        response = problem_response(
            exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail)
        )
        response.headers.update(exc.headers or {})  # e.g. a 405's Allow
        return response
