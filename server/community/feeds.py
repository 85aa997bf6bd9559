"""Atom feeds for following the registry without an account (mounted outside /api/v1).

    /feeds/observations.atom           new observation versions in the registry
    /feeds/phenomena/{slug}.atom       new observation versions filed under a phenomenon
    /feeds/observations/T-42.atom      new links, comments and versions of one observation

Newest first. Entry ids are the permalinks of what they announce (`<url>/T-42v2`,
`<url>/T-42v1#comment-7`, `<url>/T-41v1#link-3`), so they never change and a link
shows up with the same id in the feeds of both of its ends.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from feedgen.feed import FeedGenerator
from sqlmodel import select

from server.community.activity import FeedEntry, newest_versions, observation_activity
from server.db import aware
from server.deps import SessionDep, SettingsDep
from server.errors import not_found
from server.models import Phenomenon
from server.observations.queries import find_version, format_ref

ATOM = "application/atom+xml"
# The `updated` of a feed with no entries yet (Atom requires one; keep it stable).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Characters XML 1.0 cannot carry at all (lxml refuses them): dropped from text.
NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

router = APIRouter(tags=["feeds"])


def atom_feed(*, feed_url: str, page_url: str, title: str, subtitle: str,
              entries: list[FeedEntry], empty_updated: datetime = EPOCH) -> bytes:
    """An Atom document of `entries`, in the order given (newest first)."""
    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title(xml_text(title))
    feed.subtitle(xml_text(subtitle))
    feed.link(href=feed_url, rel="self", type=ATOM)
    feed.link(href=page_url, rel="alternate", type="text/html")
    moments = [e.updated or e.published for e in entries]
    feed.updated(max(moments) if moments else aware(empty_updated))
    for entry in entries:
        item = feed.add_entry(order="append")
        item.id(entry.id)
        item.title(xml_text(entry.title))
        item.link(href=entry.link, rel="alternate", type="text/html")
        item.author({"name": xml_text(entry.author)})
        item.published(entry.published)
        item.updated(entry.updated or entry.published)
        item.content(xml_text(entry.content), type="text")
        for term in entry.categories:
            item.category(term=xml_text(term))
    return feed.atom_str(pretty=True)


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry: every string of a feed goes
    through here, so that no stored name or note can make a feed fail."""
    return NOT_XML.sub("", text)


class AtomResponse(Response):
    media_type = ATOM


@router.get("/feeds/observations.atom", response_class=AtomResponse, response_model=str)
def registry_feed(session: SessionDep, settings: SettingsDep) -> AtomResponse:
    """New observations (and new versions) in the whole registry."""
    base = settings.public_url.rstrip("/")
    entries = newest_versions(session=session, public_url=base)
    return AtomResponse(atom_feed(
        feed_url=f"{base}/feeds/observations.atom", page_url=f"{base}/observations",
        title="Tycho: new observations",
        subtitle="Observations of how small models train, as they are posted.", entries=entries))


@router.get("/feeds/phenomena/{slug}.atom", response_class=AtomResponse, response_model=str)
def phenomenon_feed(slug: str, session: SessionDep, settings: SettingsDep) -> AtomResponse:
    """New observations filed under one phenomenon."""
    phenomenon = session.exec(select(Phenomenon).where(Phenomenon.slug == slug)).first()
    if phenomenon is None:
        raise not_found("Phenomenon", f"there is no phenomenon {slug!r}; see /api/v1/phenomena")
    base = settings.public_url.rstrip("/")
    entries = newest_versions(session=session, public_url=base, phenomenon=phenomenon)
    return AtomResponse(atom_feed(
        feed_url=f"{base}/feeds/phenomena/{slug}.atom", page_url=f"{base}/phenomena/{slug}",
        title=f"Tycho: new observations of {phenomenon.name}",
        subtitle=f"Observations filed under {slug}, as they are posted.", entries=entries))


@router.get("/feeds/observations/{ref}.atom", response_class=AtomResponse, response_model=str)
def observation_feed(ref: str, session: SessionDep, settings: SettingsDep) -> AtomResponse:
    """New links, comments and versions of one observation."""
    observation, _ = find_version(session=session, ref=ref)
    base = settings.public_url.rstrip("/")
    number = format_ref(observation.id)
    entries = observation_activity(session=session, observation=observation, public_url=base)
    return AtomResponse(atom_feed(
        feed_url=f"{base}/feeds/observations/{number}.atom", page_url=f"{base}/{number}",
        title=f"Tycho: activity on {number}",
        subtitle=f"Links, comments and new versions of {number}.", entries=entries,
        empty_updated=observation.created_at))
