"""Static files served by Tycho itself, so the pages work with no internet (no CDN).

Our own CSS and JS are served from server/static/ under URLs that carry a hash
of their content, and plotly.js under a URL that carries its version, so both
can be cached for a year: a changed file gets a new URL.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

import plotly
from fastapi import APIRouter, Request, Response
from fastapi.staticfiles import StaticFiles
from plotly.offline import get_plotlyjs_version

from server.web.markup import code_stylesheet

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# plotly.js as shipped inside the plotly Python package.
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
# A year: the URL changes whenever the content does (hash or version in it).
LONG_CACHE = "public, max-age=31536000, immutable"

router = APIRouter(include_in_schema=False)


class VersionedStaticFiles(StaticFiles):
    """StaticFiles whose answers to versioned URLs (`?v=<hash>`) may be cached for a year."""

    def file_response(self, full_path, stat_result, scope, status_code=200):
        response = super().file_response(full_path, stat_result, scope, status_code)
        if b"v=" in scope.get("query_string", b""):
            response.headers["Cache-Control"] = LONG_CACHE
        return response


@lru_cache(maxsize=64)
def _content_hash(name: str) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The cache-busting URL of a file in server/static/."""
    return f"/static/{name}?v={_content_hash(name)}"


def plotly_url() -> str:
    return f"/static/vendor/plotly-{get_plotlyjs_version()}.min.js"


def code_css_url() -> str:
    digest = hashlib.sha256(code_stylesheet().encode()).hexdigest()[:12]
    return f"/static/vendor/code-{digest}.css"


@lru_cache(maxsize=1)
def _plotly_bytes() -> tuple[bytes, bytes]:
    """plotly.min.js, plain and gzipped (4.6 MB -> 1.4 MB; compressed once per process)."""
    plain = PLOTLY_JS.read_bytes()
    return plain, gzip.compress(plain, compresslevel=6, mtime=0)


@router.get("/static/vendor/plotly-{version}.min.js")
def plotly_js(version: str, request: Request) -> Response:
    """plotly.js from the installed plotly package (any version in the URL gets the installed one)."""
    plain, packed = _plotly_bytes()
    headers = {"Cache-Control": LONG_CACHE, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(plain, media_type="text/javascript", headers=headers)


@router.get("/static/vendor/code-{digest}.css")
def code_css(digest: str) -> Response:
    """Pygments' colours for highlighted source."""
    return Response(code_stylesheet(), media_type="text/css", headers={"Cache-Control": LONG_CACHE})
