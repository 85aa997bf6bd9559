"""Errors on the pages as an HTML page; the API, its docs and the feeds keep problem+json."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.errors import Problem
from server.web.templating import render_page

# Paths whose errors stay problem+json: the API, its documentation and the feeds.
JSON_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/feeds/")
ERROR_TITLES = {404: "Page not found", 405: "Method not allowed", 422: "Invalid input"}


def _error_page(request: Request, status: int, title: str, detail: str):
    return render_page(request, None, "error.html", status_code=status,
                       status=status, title=title, detail=detail)


def install_error_pages(app: FastAPI) -> None:
    """Answer errors on pages with an HTML page (install after the JSON handlers)."""
    json_handlers = {kind: app.exception_handlers[kind]
                     for kind in (Problem, StarletteHTTPException, RequestValidationError)}

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith(JSON_PREFIXES)

    async def problem_page(request: Request, exc: Problem):
        if wants_json(request):
            return await json_handlers[Problem](request, exc)
        return _error_page(request, exc.status, exc.title, exc.detail)

    async def http_error_page(request: Request, exc: StarletteHTTPException):
        if wants_json(request):
            return await json_handlers[StarletteHTTPException](request, exc)
        detail = "there is no page at this address" if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code,
                           ERROR_TITLES.get(exc.status_code, "Error"), detail)

    async def validation_page(request: Request, exc: RequestValidationError):
        if wants_json(request):
            return await json_handlers[RequestValidationError](request, exc)
        detail = "; ".join(f"{'.'.join(map(str, e.get('loc', ())[1:]))}: {e.get('msg')}"
                           for e in exc.errors()[:5])
        return _error_page(request, 422, ERROR_TITLES[422], detail)

    app.add_exception_handler(Problem, problem_page)
    app.add_exception_handler(StarletteHTTPException, http_error_page)
    app.add_exception_handler(RequestValidationError, validation_page)
