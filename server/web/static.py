"""Serving the static files: server/static/ (cached a year when the URL carries its
hash), plotly.js from the installed plotly package, and Pygments' colours."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.staticfiles import StaticFiles

from server.web.assets import LONG_CACHE, STATIC_DIR, plotly_bytes
from server.web.markup import code_stylesheet

router = APIRouter(include_in_schema=False)


class VersionedStaticFiles(StaticFiles):
    """StaticFiles whose answers to versioned URLs (`?v=<hash>`) may be cached for a year."""

    def file_response(self, full_path, stat_result, scope, status_code=200):
        response = super().file_response(full_path, stat_result, scope, status_code)
        if b"v=" in scope.get("query_string", b""):
            response.headers["Cache-Control"] = LONG_CACHE
        return response


def static_files() -> VersionedStaticFiles:
    """What to mount at /static."""
    return VersionedStaticFiles(directory=STATIC_DIR)


@router.get("/static/vendor/plotly-{version}.min.js")
def plotly_js(version: str, request: Request) -> Response:
    """plotly.js from the installed plotly package (any version in the URL gets the installed one)."""
    plain, packed = plotly_bytes()
    headers = {"Cache-Control": LONG_CACHE, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(plain, media_type="text/javascript", headers=headers)


@router.get("/static/vendor/code-{digest}.css")
def code_css(digest: str) -> Response:
    """Pygments' colours for highlighted source."""
    return Response(code_stylesheet(), media_type="text/css", headers={"Cache-Control": LONG_CACHE})
