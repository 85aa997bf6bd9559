"""Markdown and recipe source are rendered once, when written, and stored as HTML; a page
view only shows what is stored. What a person may write is capped, and the issue's
pathological inputs are refused quickly (issue 11, item 5)."""

from __future__ import annotations

import json
import time

import pytest
from alembic import command
from fastapi.testclient import TestClient

from server.app import create_app
from server.db import alembic_config, upgrade_database
from server.settings import Settings
from server.web import markup
from tests.conftest import TINY_RECIPE, observation_body, register
from tests.web.test_pages import sign_in

NOTES = "Grokking at $t \\approx 10^4$: *late* generalisation.\n\n```python\nprint(1)\n```"


@pytest.fixture
def written(client, alice):
    """An observation with Markdown notes and submitted source, a comment and a link."""
    bob = register(client, "bob")
    body = observation_body(notes=NOTES, recipe={"source": TINY_RECIPE, "entrypoint": "run"},
                            config={"seed": 0})
    assert client.post("/api/v1/observations", json=body, headers=alice).status_code == 201
    assert client.post("/api/v1/observations", json=observation_body(),
                       headers=bob).status_code == 201
    assert client.post("/api/v1/observations/T-1/comments", headers=bob,
                       json={"body": "So *that* is $\\eta$."}).status_code == 201
    assert client.post("/api/v1/observations/T-2/links", headers=bob,
                       json={"relation": "reproduces", "target": "T-1",
                             "note": "Held on **every** seed."}).status_code == 201
    assert client.post("/api/v1/phenomena", headers=bob,
                       json={"slug": "slingshot", "name": "Slingshot",
                             "description": "Norm *spikes*."}).status_code == 201
    return client


def test_the_api_gives_the_html_rendered_when_written(written):
    record = written.get("/api/v1/observations/T-1").json()
    assert "<em>late</em>" in record["notes_html"] and "<math" in record["notes_html"]
    assert "<em>that</em>" in record["comments"][0]["body_html"]
    assert "<strong>every</strong>" in record["links"]["incoming"][0]["note_html"]
    assert "<em>spikes</em>" in written.get(
        "/api/v1/phenomena/slingshot").json()["description_html"]


def test_no_page_view_renders_markdown_or_source(written, alice, monkeypatch):
    sign_in(written, alice)

    def refuse(*_args, **_kwargs):
        raise AssertionError("rendered on a page view")

    for name in ("render_markdown", "highlight_source", "_parser", "sanitise"):
        monkeypatch.setattr(markup, name, refuse)
    page = written.get("/T-1")
    assert page.status_code == 200, page.text[:500]
    assert "<em>late</em>" in page.text and "<em>that</em>" in page.text
    assert 'class="code"' in page.text and "draws" in page.text  # the highlighted source
    for url in ("/T-2", "/phenomena/slingshot", "/users/bob", "/", "/observations"):
        assert written.get(url).status_code == 200, url


@pytest.mark.parametrize("field, setting", [("notes", "max_notes_chars"),
                                            ("source", "max_source_chars"),
                                            ("comment", "max_comment_chars")])
def test_what_a_person_writes_is_capped_by_a_setting(database_url, tmp_path, field, setting):
    settings = Settings(database_url=database_url, data_dir=tmp_path, **{setting: 1000})
    with TestClient(create_app(settings)) as client:
        alice = register(client, "alice")
        text = "word " * 199 + "ab"  # 997 characters: under the cap
        recipe = {"source": "def run(c, l):\n    pass\n#" + text[:970]}

        def write(too_long: bool):
            extra = "long" * 10 if too_long else ""
            if field == "notes":
                body = observation_body(notes=text + extra)
            elif field == "source":
                body = observation_body(recipe={"source": recipe["source"] + extra})
            else:
                return client.post("/api/v1/observations/T-1/comments", headers=alice,
                                   json={"body": text + extra})
            return client.post("/api/v1/observations", json=body, headers=alice)

        if field == "comment":
            client.post("/api/v1/observations", json=observation_body(), headers=alice)
        assert write(too_long=False).status_code == 201
        refused = write(too_long=True)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        detail = refused.json()["detail"]
        assert "the limit is 1,000" in detail and f"TYCHO_{setting.upper()}" in detail


def test_a_comment_edit_is_capped_and_rendered_again(client, alice):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    made = client.post("/api/v1/observations/T-1/comments", headers=alice,
                       json={"body": "first"}).json()
    edited = client.patch(f"/api/v1/comments/{made['id']}", headers=alice,
                          json={"body": "now *emphatic*"})
    assert edited.status_code == 200 and "<em>emphatic</em>" in edited.json()["body_html"]
    too_long = client.patch(f"/api/v1/comments/{made['id']}", headers=alice,
                            json={"body": "x" * 20_001})
    assert too_long.status_code == 422 and "TYCHO_MAX_COMMENT_CHARS" in too_long.json()["detail"]
    deleted = client.delete(f"/api/v1/comments/{made['id']}", headers=alice).json()
    assert deleted["body_html"] == "" and deleted["body"] == ""


def refused_quickly(client, method: str, url: str, body: dict, headers: dict) -> float:
    """CPU seconds the server spent refusing `body` (it runs in this process)."""
    payload = json.dumps(body).encode()
    started = time.process_time()
    answer = client.request(method, url, content=payload,
                            headers={**headers, "content-type": "application/json"})
    spent = time.process_time() - started
    assert answer.status_code in (413, 422), answer.text[:300]
    assert answer.headers["content-type"] == "application/problem+json"
    return spent


def test_the_pathological_inputs_of_the_issue_are_refused_before_rendering(client, alice):
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    # Each took 11-92 s of CPU per page view; now each is refused before it is rendered.
    spent = [
        refused_quickly(client, "POST", "/api/v1/observations",
                        observation_body(notes="$x^2$" * 960_000), alice),  # 4.8 MB
        refused_quickly(client, "POST", "/api/v1/observations/T-1/comments",
                        {"body": "[" * 1_000_000}, alice),  # 1 MB
        refused_quickly(client, "POST", "/api/v1/observations",
                        observation_body(recipe={"source": "x = 1\n" * 4_000_000}),
                        alice),  # 24 MB
    ]
    assert max(spent) < 10, spent  # parsing the JSON, not rendering it


def test_the_migration_renders_what_was_written_before_it(client, alice, settings, written):
    url = settings.resolved_database_url()
    before = client.get("/api/v1/observations/T-1").json()
    client.app.state.engine.dispose()
    try:
        command.downgrade(alembic_config(url), "0004")  # drops the HTML columns
        upgrade_database(url)  # 0005 adds them, and renders every row
    finally:
        upgrade_database(url)
    after = client.get("/api/v1/observations/T-1").json()
    assert after["notes_html"] == before["notes_html"] and "<em>late</em>" in after["notes_html"]
    assert after["comments"][0]["body_html"] == before["comments"][0]["body_html"] != ""
    assert after["links"] == before["links"]
    assert client.get("/api/v1/phenomena/slingshot").json()["description_html"] != ""
    assert 'class="code"' in client.get("/T-1").text
