"""Every page has a JSON twin that returns what the page shows.

The page routes are found in the app, not listed here: each GET route that answers
HTML. Each page must link its twin (a `Link: <...>; rel="alternate";
type="application/json"` header, and the same URL in the page), and the twin must
answer exactly the record the page was rendered from.
"""

from __future__ import annotations

import re

import pytest
from fastapi.responses import HTMLResponse

from tests.conftest import observation_body, register
from tests.web.test_pages import sign_in

# A value for each path parameter a page route may have; a page with another one
# fails below until it gets one here.
SAMPLES = {"number": "1", "version": "1", "slug": "grokking", "handle": "alice", "run_id": "1"}
LINK = re.compile(r'^<([^>]+)>; rel="alternate"; type="application/json"$')


def page_routes(app) -> list[str]:
    """The paths of the GET routes that answer HTML, as the app holds them."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before the included-router contexts: routes are flat
        routes = [(route.path, route) for route in app.routes]
    else:
        routes = [(context.path, context.original_route)
                  for context in iter_route_contexts(app.routes)]
    return sorted(path for path, route in routes
                  if "GET" in getattr(route, "methods", ())
                  and getattr(route, "response_class", None) is HTMLResponse)


def sample_url(path: str) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1).split(":")[0]
        assert name in SAMPLES, f"no sample value for {{{name}}} in {path}: add one to SAMPLES"
        return SAMPLES[name]

    return re.sub(r"{([^}]+)}", fill, path)


@pytest.fixture
def busy_registry(client, alice, verify):
    """Observations in two versions, verified, linked, commented on, one withdrawn."""
    bob = register(client, "bob")
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    verify()
    client.post("/api/v1/observations/T-1/versions", headers=alice,
                json=observation_body(title="Longer run", change_message="2x longer"))
    client.post("/api/v1/observations", json=observation_body(title="Bob's run"), headers=bob)
    client.post("/api/v1/observations/T-2/links", headers=bob,
                json={"relation": "reproduces", "target": "T-1v1", "note": "held"})
    client.post("/api/v1/observations/T-2/links", headers=bob,
                json={"relation": "explains", "external": "arXiv:2201.02177"})
    comment = client.post("/api/v1/observations/T-1/comments", headers=bob,
                          json={"body": "Nice *curve*", "series": "test_acc", "x": 200}).json()
    client.post("/api/v1/observations/T-1/comments", headers=alice,
                json={"body": "Thanks", "parent": comment["id"]})
    sign_in(client, alice)
    return client


def test_the_app_has_the_pages_we_know_of(client):
    assert {"/", "/phenomena/{slug}", "/observations", "/T-{number:int}",
            "/T-{number:int}v{version:int}", "/users/{handle}", "/signin"} <= set(
        page_routes(client.app))


def test_every_page_links_a_twin_that_returns_what_the_page_shows(busy_registry):
    client = busy_registry
    for path in page_routes(client.app):
        url = sample_url(path)
        page = client.get(url)
        assert page.status_code == 200, (url, page.text[:300])
        link = LINK.match(page.headers.get("link", ""))
        assert link, f"{url} sends no Link to its JSON twin"
        twin_url = link.group(1)
        twin_path = twin_url.removeprefix(str(client.base_url))
        shown = re.search(r'<link rel="alternate" type="application/json" href="([^"]+)">',
                          page.text).group(1).replace("&amp;", "&")
        assert shown == twin_path, url

        twin = client.get(twin_url)
        assert twin.status_code == 200 and twin.headers["content-type"] == "application/json", url
        record = page.context["record"]
        assert twin.json() == record.model_dump(mode="json"), f"{url}: the twin differs"
        # And what the page links to is in it: every observation it names.
        for ref in set(re.findall(r'href="/(T-\d+(?:v\d+)?)[#"]', page.text)):
            assert f'"{ref}"' in twin.text, f"{url} names {ref}; its twin {twin_path} does not"


def test_a_paged_list_links_the_same_page_of_its_twin(busy_registry, monkeypatch):
    from server.phenomena import catalogue

    monkeypatch.setattr(catalogue, "PAGE_SIZE", 1)
    client = busy_registry
    first = client.get("/phenomena/grokking")
    assert first.context["record"].next_cursor == "2"
    second = client.get("/phenomena/grokking?cursor=2")
    twin = client.get(LINK.match(second.headers["link"]).group(1)).json()
    assert [o["id"] for o in twin["items"]] == ["T-1"] and twin == second.context[
        "record"].model_dump(mode="json")
