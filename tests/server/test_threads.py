"""A chain of 200 nested replies can never break an observation's page, its record or
its comments (issue 11, item 6): replies nest at most MAX_REPLY_DEPTH deep, a deeper
reply is placed beside the comment it answers, and threads are built and drawn without
recursion, also for chains stored before the limit."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from server.community.comments import MAX_REPLY_DEPTH
from server.db import session_for
from tests.conftest import observation_body
from tests.web.test_pages import sign_in

CHAIN = 200


def deepest(thread: list[dict]) -> int:
    """How deep the replies of a thread (as the API gives it) nest, walked with a stack."""
    stack, most = [(node, 0) for node in thread], 0
    while stack:
        node, depth = stack.pop()
        most = max(most, depth)
        stack.extend((reply, depth + 1) for reply in node["replies"])
    return most


def count(thread: list[dict]) -> int:
    stack, seen = list(thread), 0
    while stack:
        node = stack.pop()
        seen += 1
        stack.extend(node["replies"])
    return seen


@pytest.fixture
def posted(client, alice):
    assert client.post("/api/v1/observations", json=observation_body(),
                       headers=alice).status_code == 201


def assert_everything_answers(client, comments: int) -> None:
    thread = client.get("/api/v1/observations/T-1/comments")
    assert thread.status_code == 200, thread.text[:300]
    assert count(thread.json()) == comments
    assert deepest(thread.json()) == MAX_REPLY_DEPTH
    record = client.get("/api/v1/observations/T-1")
    assert record.status_code == 200 and record.json()["comments"] == thread.json()
    page = client.get("/T-1")
    assert page.status_code == 200, page.text[:300]
    section = page.text[page.text.index('<section class="comments"'):]
    section = section[:section.index("</section>")]
    assert len(re.findall(r'<li class="comment" id="comment-\d+">', section)) == comments
    # Every list the thread opens it closes: it is well formed.
    assert len(re.findall(r"<ol[ >]", section)) == section.count("</ol>")
    assert len(re.findall(r"<li[ >]", section)) == section.count("</li>")


def test_200_nested_replies_through_the_api(client, alice, posted, settings):
    parent = None
    for i in range(CHAIN):
        answer = client.post("/api/v1/observations/T-1/comments", headers=alice,
                             json={"body": f"reply {i}", "parent": parent})
        assert answer.status_code == 201, answer.text
        made = answer.json()
        if i <= MAX_REPLY_DEPTH:  # the chain nests as asked up to the limit...
            assert made["parent"] == parent
        else:  # ...then each reply is placed beside the one it answers
            assert made["parent"] != parent and made["parent"] is not None
        parent = made["id"]
    sign_in(client, alice)  # the page then draws a reply form under every comment
    assert_everything_answers(client, CHAIN)


def test_a_200_deep_chain_stored_before_the_limit_still_reads(client, alice, posted, settings):
    first = client.post("/api/v1/observations/T-1/comments", headers=alice,
                        json={"body": "top"}).json()["id"]
    with session_for(settings.resolved_database_url()) as session:
        for i in range(CHAIN - 1):
            session.execute(text(
                "INSERT INTO comment (observation_id, version, author_id, parent_id, body, "
                "created_at) SELECT observation_id, version, author_id, :parent, :body, "
                "created_at FROM comment WHERE id = :first"),
                {"parent": first + i, "body": f"reply {i}", "first": first})
    # Deleting leaves tombstones: the chain stays, and so must the page.
    for comment in (first + 10, first + 150):
        assert client.delete(f"/api/v1/comments/{comment}", headers=alice).status_code == 200
    assert_everything_answers(client, CHAIN)
    # A reply to the deepest comment is placed at the deepest level shown.
    reply = client.post("/api/v1/observations/T-1/comments", headers=alice,
                        json={"body": "and one more", "parent": first + CHAIN - 1}).json()
    assert reply["parent"] == first + MAX_REPLY_DEPTH - 1
