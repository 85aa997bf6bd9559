"""Jinja2 templates (server/templates/) and what every page gets: the viewer, the form token."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from runner.spec import Verdict
from server.errors import invalid
from server.users.signin import csrf_token, signed_in_user
from server.web.assets import code_css_url, plotly_url, static_url
from server.web.markup import render_markdown

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


templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.filters.update(
    markdown=render_markdown, date=_date, datetime=_datetime, percent=_percent
)
templates.env.globals.update(
    static_url=static_url, plotly_url=plotly_url, code_css_url=code_css_url,
    verdict_meanings=VERDICT_MEANINGS,
)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


def render_page(
    request: Request, session: Session | None, template: str, status_code: int = 200,
    **context: Any,
):
    """A page from `template`, with the signed-in viewer and the CSRF token added."""
    viewer = signed_in_user(session=session, request=request) if session is not None else None
    context.update(viewer=viewer, csrf_token=csrf_token(request) if viewer else "")
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def page_cursor(value: str | None) -> int | None:
    """The cursor of a page's query string (`?cursor=123`), None on the first page."""
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise invalid(f"cursor: {value!r} is not a cursor from a previous page")
    return int(value)
