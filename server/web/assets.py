"""Static files served by Tycho itself, so the pages work with no internet (no CDN).

Our own CSS and JS are served from server/static/ under URLs that carry a hash
of their content, and plotly.js under a URL that carries its version, so both
can be cached for a year: a changed file gets a new URL. This module says where
they are and what their URLs are; server.web.static serves them.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

import plotly
from plotly.offline import get_plotlyjs_version

from server.web.markup import code_stylesheet

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# plotly.js as shipped inside the plotly Python package.
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
# A year: the URL changes whenever the content does (hash or version in it).
LONG_CACHE = "public, max-age=31536000, immutable"


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
def plotly_bytes() -> tuple[bytes, bytes]:
    """plotly.min.js, plain and gzipped (4.6 MB -> 1.4 MB; compressed once per process)."""
    plain = PLOTLY_JS.read_bytes()
    return plain, gzip.compress(plain, compresslevel=6, mtime=0)
