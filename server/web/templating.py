"""Jinja2 templates (server/templates/) and the one way a page is rendered: from its record,
with its JSON twin, the signed-in viewer and the form token.

Every page shows one record, and its JSON twin is an API route that answers that
same record (as datasette's BaseView.render does for every view): `render_page`
takes the record and the twin's URL (built with `request.url_for`, never by hand),
puts both in the template, and sends `Link: <twin>; rel="alternate";
type="application/json"`. tests/web/test_twins.py walks every page and checks it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from pydantic import BaseModel
from sqlmodel import Session
from starlette.datastructures import URL

from runner.spec import MAX_ID, Verdict
from server.errors import invalid
from server.users.signin import csrf_token, signed_in_user
from server.web.assets import code_css_url, plotly_url, static_url

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"

# What each verdict means, for the badge's tooltip (runner.spec.Verdict).
VERDICT_MEANINGS = {
    Verdict.unverified.value: "not verified yet",
    Verdict.reproduced.value: "every claim holds on the original seed",
    Verdict.robust.value: "reproduced, and every claim holds on at least 80% of fresh seeds",
    Verdict.fragile.value: "reproduced, but some claim holds on fewer than 80% of fresh seeds",
    Verdict.not_reproduced.value: "some claim fails on the original seed",
    Verdict.error.value: "the re-run crashed, timed out or hit a resource limit",
    Verdict.unverifiable.value: "no runnable recipe",
}


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def _datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _duration(seconds: float | None) -> str:
    """A time left as a person says it: 45 s, 3 min, 1 h 5 min."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def route_url(request: Request, name: str, query: dict[str, Any] | None = None,
              **params: Any) -> URL:
    """The URL of the route called `name` (request.url_for), with `query` as its query string."""
    url = request.url_for(name, **params)
    return url.replace(query=urlencode(query)) if query else url


def site_path(url: URL) -> str:
    """`url` as a link on this site: its path and query, no scheme or host."""
    return url.path + (f"?{url.query}" if url.query else "")


@pass_context
def _api_path(context: Any, name: str, query: dict[str, Any] | None = None, **params: Any) -> str:
    """For templates: the link to the route `name`, e.g. a section's JSON."""
    return site_path(route_url(context["request"], name, query, **params))


templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
# No `markdown` filter: Markdown is rendered when it is written, and templates show the
# stored HTML (`notes_html`, `body_html`, ...), so no page view renders any.
templates.env.filters.update(date=_date, datetime=_datetime, percent=_percent,
                             duration=_duration)
templates.env.globals.update(
    static_url=static_url, plotly_url=plotly_url, code_css_url=code_css_url,
    verdict_meanings=VERDICT_MEANINGS, api_path=_api_path,
)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


def render_page(
    request: Request, session: Session | None, template: str, *,
    record: BaseModel | None = None, twin: URL | None = None, status_code: int = 200,
    **context: Any,
):
    """The page `template` showing `record`, whose JSON twin is the API URL `twin`.

    The template gets `record`, `json_url` (the twin as a link on this site), the
    signed-in `viewer` and the CSRF token, and whatever else `context` holds: how
    the record is drawn (plots, grouped links), never more data.
    """
    viewer = signed_in_user(session=session, request=request) if session is not None else None
    context.update(record=record, json_url=site_path(twin) if twin is not None else None,
                   viewer=viewer, csrf_token=csrf_token(request) if viewer else "")
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    if twin is not None:
        response.headers["Link"] = f'<{twin}>; rel="alternate"; type="application/json"'
    return response


def page_cursor(value: str | None) -> int | None:
    """The cursor of a page's query string (`?cursor=123`), None on the first page."""
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 19 or int(value) > MAX_ID:
        raise invalid(f"cursor: {value[:40]!r} is not a cursor from a previous page")
    return int(value)
