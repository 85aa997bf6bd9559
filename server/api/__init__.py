"""The REST API under /api/v1 (JSON; OpenAPI at /docs)."""

from fastapi import APIRouter

from server.api import community, jobs, observations, phenomena, users

router = APIRouter(prefix="/api/v1")
for module in (users, phenomena, observations, community, jobs):
    router.include_router(module.router)
