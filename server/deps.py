"""FastAPI dependencies as Annotated aliases (swap them in tests via dependency_overrides)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlmodel import Session

from server.db import session_scope
from server.models import TokenScope, User
from server.settings import Settings
from server.users.tokens import authenticate

SESSION_COOKIE = "tycho_token"


class _OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class JSONRoute(APIRoute):
    """A route whose JSON body is parsed by orjson: 4-5x faster than the standard
    library on a post of 100,000 points (benchmarks/api.py), and strict JSON: NaN
    and Infinity, which JSON has no words for, are refused (422) rather than
    stored. orjson's decode error is a json.JSONDecodeError, so FastAPI answers
    a malformed body as it always has."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def orjson_handler(request: Request) -> Any:
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return orjson_handler


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session. An async generator: opening a session does no I/O (its
    connection is taken at the first query, in the route's thread), and a sync generator
    would cost two more hops to the thread pool on every request (one to open, one to
    close): a third of a GET record's time over its floor (benchmarks/api.py)."""
    for session in session_scope(request.app.state.engine):
        yield session


def app_settings(request: Request) -> Settings:
    """The settings the running app was created with (swap in tests via the app)."""
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(app_settings)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    # The web pages sign in by putting the token in an http-only cookie.
    return request.cookies.get(SESSION_COOKIE)


def _writer(request: Request, session: SessionDep) -> User:
    return authenticate(session=session, token=bearer_token(request), need=TokenScope.write)


def _worker(request: Request, session: SessionDep) -> User:
    return authenticate(session=session, token=bearer_token(request), need=TokenScope.worker)


def _admin(request: Request, session: SessionDep) -> User:
    return authenticate(session=session, token=bearer_token(request), need=TokenScope.admin)


CurrentUser = Annotated[User, Depends(_writer)]
WorkerUser = Annotated[User, Depends(_worker)]
AdminUser = Annotated[User, Depends(_admin)]
