"""The FastAPI application: the REST API, and the web pages when they are installed."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlmodel import Session

import runner
from server.api import router as api_router
from server.db import make_engine
from server.errors import BodySizeLimit, install_error_handlers
from server.feeds import router as feeds_router
from server.seed import ensure_phenomena
from server.settings import Settings, get_settings
from server.users import ensure_worker_token


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
    app.state.engine = make_engine(settings.resolved_database_url())
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(feeds_router)
    try:
        from server.web import install_web
    except ImportError:  # the pages are optional while they are being built
        pass
    else:
        install_web(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
