"""The FastAPI application: the REST API, the Atom feeds and the web pages."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlmodel import Session

import runner
from server.citations import api as citations_api
from server.community import api as community_api
from server.community import feeds
from server.compare import api as compare_api
from server.compare import pages as compare_pages
from server.db import make_engine
from server.errors import install_error_handlers
from server.initial_data import ensure_phenomena
from server.limits import RequestLimits, body_limits
from server.observations import api as observations_api
from server.openapi import document_statuses
from server.observations import pages as observation_pages
from server.phenomena import api as phenomena_api
from server.phenomena import pages as phenomenon_pages
from server.runs import api as runs_api
from server.runs import pages as run_pages
from server.settings import Settings, get_settings
from server.users import api as users_api
from server.users import pages as user_pages
from server.users.accounts import ensure_worker_token
from server.sweeps import api as sweeps_api
from server.verification import api as verification_api
from server.verification import pages as verification_pages
from server.web import static
from server.web.error_pages import install_error_pages

# The REST API under /api/v1 (JSON; OpenAPI at /docs), one router per domain.
API_ROUTERS = (users_api, phenomena_api, observations_api, runs_api, compare_api,
               community_api, citations_api, verification_api, sweeps_api)
# The pages. The vendor routes (/static/vendor/...) come before the /static mount that
# would otherwise swallow them: Starlette tries routes in the order they were added.
PAGE_ROUTERS = (static, phenomenon_pages, observation_pages, run_pages, compare_pages,
                verification_pages, user_pages)


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app bound to `settings` (the database must already be migrated)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        with Session(app.state.engine) as session:
            ensure_phenomena(session=session)
            if settings.worker_token:
                ensure_worker_token(session=session, token=settings.worker_token)
            session.commit()
        yield
        app.state.engine.dispose()

    app = FastAPI(
        title="Tycho",
        version=runner.__version__,
        description="A registry for AI phenomenology: post, verify, browse, rerun and cite "
        "observations of how small models train.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.resolved_database_url(),
                                   wait_seconds=settings.db_wait_seconds)
    install_error_handlers(app)
    document_statuses([module.router for module in API_ROUTERS] + [feeds.router],
                      # /compare names its observations in the query: 404 for one
                      # that does not exist
                      extra={"claim": {204}, "get_comparison": {404}})
    api = APIRouter(prefix="/api/v1")
    for module in API_ROUTERS:
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(feeds.router)
    for module in PAGE_ROUTERS:
        app.include_router(module.router)
    app.mount("/static", static.static_files(), name="static")
    install_error_pages(app)
    app.add_middleware(RequestLimits, **body_limits(settings))
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, verification_api.QuietHeartbeats) for f in access_log.filters):
        access_log.addFilter(verification_api.QuietHeartbeats())
    return app
