"""Links, versions, the link graph, comments and the Atom feeds, through the API."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlalchemy import text

from runner.spec import Relation
from server.db import session_for
from server.users.accounts import create_user_with_token
from tests.conftest import observation_body, register

ROOT = Path(__file__).resolve().parents[2]
ATOM = "{http://www.w3.org/2005/Atom}"


def stored(settings, table: str) -> int:
    with session_for(settings.resolved_database_url()) as session:
        return session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def post(client, headers, **overrides) -> str:
    response = client.post("/api/v1/observations", json=observation_body(**overrides),
                           headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def link(client, headers, source: str, relation: str, target: str | None = None, **body):
    return client.post(f"/api/v1/observations/{source}/links",
                       json={"relation": relation, "target": target, **body}, headers=headers)


def new_version(client, headers, ref: str, **overrides):
    body = {**observation_body(**overrides), "change_message": "more steps"}
    response = client.post(f"/api/v1/observations/{ref}/versions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def bob(client):
    return register(client, "bob")


# --- the vocabulary ------------------------------------------------------------------


def test_the_docs_give_every_relation_one_meaning():
    doc = (ROOT / "docs" / "community.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| (.+?) \|$", doc, re.MULTILINE))
    assert set(rows) == {r.value for r in Relation}
    assert all(len(meaning.split()) >= 4 for meaning in rows.values())


def test_every_relation_links_two_observations_and_both_ends_see_it(client, alice, bob):
    post(client, alice)
    post(client, bob, title="A second look")
    for relation in Relation:
        response = link(client, bob, "T-2", relation.value, "T-1", note=f"{relation.value}!")
        assert response.status_code == 201, response.text
        [made] = response.json()
        assert (made["source"]["id"], made["relation"], made["target"]["id"]) == (
            "T-2v1", relation.value, "T-1v1")
        assert made["author"] == "bob" and made["note"] == f"{relation.value}!"
    incoming = client.get("/api/v1/observations/T-1/links").json()["incoming"]
    outgoing = client.get("/api/v1/observations/T-2/links").json()["outgoing"]
    assert [l["relation"] for l in incoming] == [r.value for r in Relation]
    assert incoming == outgoing


def test_unifies_takes_several_targets_in_one_request(client, alice, bob):
    post(client, alice)
    post(client, alice, title="Another")
    post(client, bob, title="One account of both")
    response = link(client, bob, "T-3", "unifies", targets=["T-1", "T-2"], note="same clock")
    assert response.status_code == 201, response.text
    assert [(l["target"]["id"], l["note"]) for l in response.json()] == [
        ("T-1v1", "same clock"), ("T-2v1", "same clock")]


def test_links_to_phenomena_and_papers_are_normalised(client, alice):
    post(client, alice)
    made = link(client, alice, "T-1", "explains", phenomenon="grokking").json()
    assert made[0]["target"] == {"kind": "phenomenon", "slug": "grokking"}
    paper = link(client, alice, "T-1", "extends", external="arxiv:2201.02177").json()[0]
    assert paper["target"] == {"kind": "external", "ref": "arXiv:2201.02177",
                               "url": "https://arxiv.org/abs/2201.02177"}
    doi = link(client, alice, "T-1", "applies", external="10.1234/abc.5").json()[0]
    assert doi["target"]["url"] == "https://doi.org/10.1234/abc.5"


# --- bad input stores nothing ----------------------------------------------------------


@pytest.mark.parametrize("body, status, says", [
    ({"relation": "connects", "target": "T-99"}, 422, "no observation 'T-99'"),
    ({"relation": "connects", "target": "T-1v7"}, 422, "no observation 'T-1v7'"),
    ({"relation": "inspires", "target": "T-1"}, 422, "relation"),
    ({"relation": "connects", "target": "T-2"}, 422, "cannot link to itself"),
    ({"relation": "connects", "targets": ["T-1", "T-3"]}, 422, "only `unifies`"),
    ({"relation": "unifies", "targets": ["T-1", "T-99"]}, 422, "no observation 'T-99'"),
    ({"relation": "unifies", "targets": ["T-1", "T-2"]}, 422, "cannot link to itself"),
    ({"relation": "connects"}, 422, "exactly one kind of target"),
    ({"relation": "connects", "target": "T-1", "phenomenon": "grokking"}, 422, "exactly one"),
    ({"relation": "explains", "phenomenon": "alchemy"}, 422, "no phenomenon 'alchemy'"),
    ({"relation": "extends", "external": "a paper I read"}, 422, "arXiv id"),
    ({"relation": "connects", "target": "T-1", "note": "x" * 5001}, 422, "note"),
])
def test_a_bad_link_is_refused_with_a_reason_and_nothing_stored(client, alice, bob, settings,
                                                                body, status, says):
    post(client, alice)
    post(client, bob)
    post(client, alice)
    response = client.post("/api/v1/observations/T-2/links", json=body, headers=bob)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"]
    assert stored(settings, "link") == 0


def test_linking_a_newer_version_of_itself_is_a_self_link(client, alice, settings):
    post(client, alice)
    new_version(client, alice, "T-1")
    response = link(client, alice, "T-1v2", "supersedes", "T-1v1")
    assert response.status_code == 422 and "itself" in response.json()["detail"]
    assert stored(settings, "link") == 0


def test_a_duplicate_link_is_409_and_a_unifies_holding_one_stores_none(client, alice, bob,
                                                                       settings):
    post(client, alice)
    post(client, alice)
    post(client, bob)
    assert link(client, bob, "T-3", "unifies", "T-2").status_code == 201
    again = link(client, bob, "T-3", "unifies", "T-2")
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    # T-1 is new, T-2 is the duplicate: the request is refused as a whole.
    mixed = link(client, bob, "T-3", "unifies", targets=["T-1", "T-2"])
    assert mixed.status_code == 409
    assert stored(settings, "link") == 1
    # The same pair under another relation is another link.
    assert link(client, bob, "T-3", "extends", "T-2").status_code == 201


def test_links_need_a_token(client, alice, settings):
    post(client, alice)
    post(client, alice)
    assert link(client, {}, "T-2", "connects", "T-1").status_code == 401
    assert stored(settings, "link") == 0


def test_reproductions_count_distinct_people_other_than_the_author(client, alice, bob):
    carol = register(client, "carol")
    post(client, alice)
    for headers in (alice, bob, bob, carol):
        post(client, headers, title="Reproduction")
    for n, headers in ((2, alice), (3, bob), (4, bob)):
        assert link(client, headers, f"T-{n}", "reproduces", "T-1").status_code == 201
    assert link(client, carol, "T-5", "fails-to-reproduce", "T-1").status_code == 201
    record = client.get("/api/v1/observations/T-1").json()
    assert record["reproductions"] == {"reproduced_by": 1, "failed_by": 1}


# --- versions --------------------------------------------------------------------------


def test_an_old_version_says_it_is_old_and_names_the_latest(client, alice, bob):
    post(client, alice)
    post(client, bob)
    assert link(client, bob, "T-2", "connects", "T-1").status_code == 201
    comment = client.post("/api/v1/observations/T-1/comments", json={"body": "nice"},
                          headers=bob).json()
    new_version(client, alice, "T-1", title="Grokking, longer run")

    old = client.get("/api/v1/observations/T-1v1").json()
    assert (old["is_latest"], old["newer_version"]) == (False, "T-1v2")
    assert old["title"] == "Grokking on modular addition"  # a published version never changes
    latest = client.get("/api/v1/observations/T-1").json()
    assert (latest["ref"], latest["is_latest"], latest["newer_version"]) == ("T-1v2", True, None)
    assert [(v["id"], v["is_latest"]) for v in latest["versions"]] == [
        ("T-1v1", False), ("T-1v2", True)]
    # Links and comments keep naming the version they were made on.
    assert latest["links"]["incoming"][0]["target"]["id"] == "T-1v1"
    assert comment["observation"] == "T-1v1"
    listed = client.get("/api/v1/observations").json()["items"]
    assert [(i["ref"], i["is_latest"]) for i in listed] == [("T-2v1", True), ("T-1v2", True)]


# --- the graph -------------------------------------------------------------------------


def _chain_of_five(client, alice, bob):
    """T-2 connects T-1; T-3 extends T-2; T-4 contradicts T-3; T-5 varies T-2 and connects T-3;
    T-3 explains grokking; T-2 extends a paper."""
    for _ in range(5):
        post(client, alice if _ % 2 == 0 else bob)
    for source, relation, target, extra in [
        ("T-2", "connects", "T-1", {}),
        ("T-3", "extends", "T-2", {}),
        ("T-4", "contradicts", "T-3", {}),
        ("T-5", "varies", "T-2", {}),
        ("T-5", "connects", "T-3", {}),
        ("T-3", "explains", None, {"phenomenon": "grokking"}),
        ("T-2", "extends", None, {"external": "2201.02177"}),
    ]:
        assert link(client, bob, source, relation, target, **extra).status_code == 201


def edges(graph) -> list[tuple[str, str, str]]:
    return [(e["source"], e["relation"], e["target"]) for e in graph["edges"]]


def test_the_graph_holds_exactly_the_links_within_depth(client, alice, bob):
    _chain_of_five(client, alice, bob)
    one = client.get("/api/v1/observations/T-1/graph").json()
    assert one["root"] == "T-1v1" and one["depth"] == 1
    assert [(n["id"], n["distance"]) for n in one["nodes"]] == [("T-1v1", 0), ("T-2v1", 1)]
    assert edges(one) == [("T-2v1", "connects", "T-1v1")]

    two = client.get("/api/v1/observations/T-1/graph", params={"depth": 2}).json()
    assert {(n["id"], n["distance"]) for n in two["nodes"]} == {
        ("T-1v1", 0), ("T-2v1", 1), ("T-3v1", 2), ("T-5v1", 2), ("arXiv:2201.02177", 2)}
    # T-5 connects T-3 joins two observations on the rim: inside. T-4 and grokking
    # are three links away: outside, with their links.
    assert sorted(edges(two)) == sorted([
        ("T-2v1", "connects", "T-1v1"), ("T-3v1", "extends", "T-2v1"),
        ("T-5v1", "varies", "T-2v1"), ("T-5v1", "connects", "T-3v1"),
        ("T-2v1", "extends", "arXiv:2201.02177")])
    assert len({e["id"] for e in two["edges"]}) == len(two["edges"])

    three = client.get("/api/v1/observations/T-1/graph", params={"depth": 3}).json()
    assert len(three["edges"]) == 7 and len(three["nodes"]) == 7
    grokking = next(n for n in three["nodes"] if n["kind"] == "phenomenon")
    assert grokking == {**grokking, "id": "phenomenon:grokking", "distance": 3,
                        "slug": "grokking", "url": "http://127.0.0.1:8000/phenomena/grokking"}


def test_a_paper_linked_from_two_sides_is_one_node_at_the_nearer_distance(client, alice, bob):
    post(client, alice)
    post(client, bob)
    link(client, bob, "T-2", "connects", "T-1")
    link(client, bob, "T-2", "extends", external="2201.02177")
    link(client, alice, "T-1", "applies", external="arXiv:2201.02177")
    graph = client.get("/api/v1/observations/T-1/graph", params={"depth": 2}).json()
    papers = [n for n in graph["nodes"] if n["kind"] == "external"]
    assert [(p["id"], p["distance"], p["url"]) for p in papers] == [
        ("arXiv:2201.02177", 1, "https://arxiv.org/abs/2201.02177")]
    assert sorted(edges(graph)) == sorted([
        ("T-2v1", "connects", "T-1v1"), ("T-2v1", "extends", "arXiv:2201.02177"),
        ("T-1v1", "applies", "arXiv:2201.02177")])


def test_the_graph_follows_links_both_ways_and_describes_each_node(client, alice, bob):
    _chain_of_five(client, alice, bob)
    graph = client.get("/api/v1/observations/T-3/graph").json()
    assert {n["id"] for n in graph["nodes"]} == {
        "T-3v1", "T-2v1", "T-4v1", "T-5v1", "phenomenon:grokking"}
    assert sorted(edges(graph)) == sorted([
        ("T-3v1", "extends", "T-2v1"), ("T-4v1", "contradicts", "T-3v1"),
        ("T-5v1", "varies", "T-2v1"), ("T-5v1", "connects", "T-3v1"),
        ("T-3v1", "explains", "phenomenon:grokking")])
    node = next(n for n in graph["nodes"] if n["id"] == "T-4v1")
    assert node == {**node, "kind": "observation", "title": "Grokking on modular addition",
                    "author": "bob", "author_name": "Bob", "verdict": "unverified",
                    "observation": "T-4", "is_latest": True, "url": "http://127.0.0.1:8000/T-4v1"}
    assert all(e["author"] == "bob" for e in graph["edges"])


def test_the_graph_of_a_revised_observation_keeps_the_versions_links_name(client, alice, bob):
    post(client, alice)
    post(client, bob)
    link(client, bob, "T-2", "connects", "T-1")
    new_version(client, alice, "T-1")
    graph = client.get("/api/v1/observations/T-1/graph").json()
    assert graph["root"] == "T-1v2"
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert set(nodes) == {"T-1v2", "T-1v1", "T-2v1"}
    assert nodes["T-1v1"]["newer_version"] == "T-1v2" and nodes["T-1v1"]["distance"] == 0
    assert edges(graph) == [("T-2v1", "connects", "T-1v1")]


@pytest.mark.parametrize("depth", [0, 6, -1])
def test_graph_depth_is_one_to_five(client, alice, depth):
    post(client, alice)
    response = client.get("/api/v1/observations/T-1/graph", params={"depth": depth})
    assert response.status_code == 422 and "1 to 5" in response.json()["detail"]


def test_graph_of_an_unknown_observation_is_404(client):
    assert client.get("/api/v1/observations/T-9/graph").status_code == 404


# --- comments --------------------------------------------------------------------------


def comment(client, headers, ref="T-1", **body):
    return client.post(f"/api/v1/observations/{ref}/comments",
                       json={"body": "A comment.", **body}, headers=headers)


def test_comments_thread_with_replies_nested(client, alice, bob):
    post(client, alice)
    first = comment(client, bob, body="Why the plateau?").json()
    reply = comment(client, alice, body="Weight decay.", parent=first["id"]).json()
    comment(client, bob, body="Thanks!", parent=reply["id"])
    comment(client, bob, body="Another point.")
    thread = client.get("/api/v1/observations/T-1/comments").json()
    assert [c["body"] for c in thread] == ["Why the plateau?", "Another point."]
    assert thread[0]["replies"][0]["body"] == "Weight decay."
    assert thread[0]["replies"][0]["replies"][0]["author"] == "bob"


def test_the_author_edits_and_the_history_keeps_every_earlier_body(client, alice, bob):
    post(client, alice)
    made = comment(client, bob, body="first").json()
    for body in ("second", "third"):
        edited = client.patch(f"/api/v1/comments/{made['id']}", json={"body": body}, headers=bob)
        assert edited.status_code == 200
    assert edited.json()["body"] == "third" and edited.json()["edited_at"]
    history = client.get(f"/api/v1/comments/{made['id']}/history").json()
    assert [h["body"] for h in history] == ["first", "second"]


def test_someone_else_cannot_edit_and_nothing_changes(client, alice, bob, settings):
    post(client, alice)
    made = comment(client, bob, body="mine").json()
    refused = client.patch(f"/api/v1/comments/{made['id']}", json={"body": "yours"},
                           headers=alice)
    assert refused.status_code == 403 and "author" in refused.json()["detail"]
    assert client.get("/api/v1/observations/T-1/comments").json()[0]["body"] == "mine"
    assert stored(settings, "comment_revision") == 0


def test_delete_by_author_or_admin_leaves_a_tombstone_and_keeps_replies(client, alice, bob,
                                                                         settings):
    admin = {"Authorization": "Bearer " + create_user_with_token(
        settings.resolved_database_url(), handle="root", admin=True)}
    post(client, alice)
    top = comment(client, bob, body="wrong axis?").json()
    comment(client, alice, body="no, it is log steps", parent=top["id"])
    other = comment(client, alice, body="spam").json()
    assert client.delete(f"/api/v1/comments/{top['id']}", headers=alice).status_code == 403
    assert client.delete(f"/api/v1/comments/{top['id']}", headers=bob).status_code == 200
    assert client.delete(f"/api/v1/comments/{other['id']}", headers=admin).status_code == 200
    thread = client.get("/api/v1/observations/T-1/comments").json()
    tombstone = thread[0]
    assert (tombstone["deleted"], tombstone["body"], tombstone["author"]) == (True, "", None)
    assert tombstone["replies"][0]["body"] == "no, it is log steps"
    assert thread[1]["deleted"] is True
    gone = client.patch(f"/api/v1/comments/{top['id']}", json={"body": "back"}, headers=bob)
    assert gone.status_code == 409
    assert client.get(f"/api/v1/comments/{top['id']}/history").json() == []


def test_a_comment_over_the_length_limit_is_422_and_not_stored(client, alice, settings):
    post(client, alice)
    response = comment(client, alice, body="x" * 20_001)
    assert response.status_code == 422 and "20,000" in response.json()["detail"]
    assert stored(settings, "comment") == 0


def test_a_comment_on_a_point_of_a_curve(client, alice, bob, settings):
    post(client, alice)
    made = comment(client, bob, body="the jump", series="test_acc", x=200).json()
    assert (made["series"], made["x"], made["observation"]) == ("test_acc", 200.0, "T-1v1")
    unknown = comment(client, bob, series="test_loss", x=200)
    assert unknown.status_code == 422
    assert "no series 'test_loss'" in unknown.json()["detail"]
    assert "test_acc" in unknown.json()["detail"]
    assert comment(client, bob, x=200).status_code == 422  # a point needs its series
    assert stored(settings, "comment") == 1


def test_a_reply_must_be_to_a_comment_on_the_same_observation(client, alice):
    post(client, alice)
    post(client, alice)
    made = comment(client, alice, ref="T-1").json()
    response = comment(client, alice, ref="T-2", parent=made["id"])
    assert response.status_code == 422 and "no comment" in response.json()["detail"]


# --- feeds -----------------------------------------------------------------------------


def feed(client, path: str) -> ElementTree.Element:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    return ElementTree.fromstring(response.content)


def entries(root) -> list[tuple[str, str]]:
    return [(e.findtext(f"{ATOM}id"), e.findtext(f"{ATOM}title"))
            for e in root.findall(f"{ATOM}entry")]


def test_the_registry_feed_lists_new_observations_newest_first(client, alice, bob):
    post(client, alice, title="First")
    post(client, bob, title="Second", phenomena=["double-descent"])
    new_version(client, alice, "T-1", title="First, revised")
    root = feed(client, "/feeds/observations.atom")
    assert root.findtext(f"{ATOM}id") == "http://127.0.0.1:8000/feeds/observations.atom"
    assert entries(root) == [
        ("http://127.0.0.1:8000/T-1v2", "T-1v2: First, revised"),
        ("http://127.0.0.1:8000/T-2v1", "T-2v1: Second"),
        ("http://127.0.0.1:8000/T-1v1", "T-1v1: First"),
    ]
    first = root.find(f"{ATOM}entry")
    assert first.findtext(f"{ATOM}author/{ATOM}name") == "Alice (alice)"
    assert first.find(f"{ATOM}category").get("term") == "grokking"
    # Ids are stable: the same entries read again carry the same ids.
    assert entries(feed(client, "/feeds/observations.atom")) == entries(root)


def test_a_phenomenon_feed_holds_only_its_observations(client, alice, bob):
    post(client, alice, title="Grokking")
    post(client, bob, title="Double descent", phenomena=["double-descent"])
    root = feed(client, "/feeds/phenomena/double-descent.atom")
    assert [title for _, title in entries(root)] == ["T-2v1: Double descent"]
    empty = feed(client, "/feeds/phenomena/superposition.atom")
    assert entries(empty) == [] and empty.findtext(f"{ATOM}updated")
    missing = client.get("/feeds/phenomena/alchemy.atom")
    assert missing.status_code == 404 and "alchemy" in missing.json()["detail"]


def test_withdrawn_observations_leave_the_registry_feed(client, alice, settings):
    admin = {"Authorization": "Bearer " + create_user_with_token(
        settings.resolved_database_url(), handle="root", admin=True)}
    post(client, alice, title="Kept")
    post(client, alice, title="Withdrawn")
    client.post("/api/v1/observations/T-2/withdraw", json={"reason": "bad data"}, headers=admin)
    assert [t for _, t in entries(feed(client, "/feeds/observations.atom"))] == ["T-1v1: Kept"]


def test_an_observation_feed_shows_links_and_comments_newest_first(client, alice, bob):
    post(client, alice)
    post(client, bob)
    link(client, bob, "T-2", "connects", "T-1", note="same clock")
    made = comment(client, bob, body="see step 200", series="test_acc", x=200).json()
    gone = comment(client, alice, body="oops").json()
    client.delete(f"/api/v1/comments/{gone['id']}", headers=alice)
    link(client, alice, "T-1", "explains", phenomenon="grokking")
    client.patch(f"/api/v1/comments/{made['id']}", json={"body": "see step 200!"}, headers=bob)

    root = feed(client, "/feeds/observations/T-1.atom")
    base = "http://127.0.0.1:8000"
    assert entries(root) == [
        (f"{base}/T-1v1#link-2", "T-1v1 explains phenomenon grokking"),
        (f"{base}/T-1v1#comment-{made['id']}", "bob commented on T-1v1 at test_acc, x = 200"),
        (f"{base}/T-2v1#link-1", "T-2v1 connects T-1v1"),
    ]
    edited = root.findall(f"{ATOM}entry")[1]
    assert edited.findtext(f"{ATOM}content") == "see step 200!"
    assert edited.findtext(f"{ATOM}updated") > edited.findtext(f"{ATOM}published")
    # The link shows up in the feed of its other end with the same id.
    assert (f"{base}/T-2v1#link-1", "T-2v1 connects T-1v1") in entries(
        feed(client, "/feeds/observations/T-2.atom"))
    assert client.get("/feeds/observations/T-9.atom").status_code == 404
    new_version(client, alice, "T-1", title="Grokking, longer")
    latest = entries(feed(client, "/feeds/observations/T-1.atom"))
    assert latest[0] == (f"{base}/T-1v2", "T-1v2: Grokking, longer") and latest[1:] == entries(root)


def test_feeds_carry_text_that_xml_cannot(client, alice, bob):
    # A title is one line without control characters; notes and comments may hold them.
    post(client, alice, notes="Control \x01 character")
    comment(client, bob, body="bell \x07 and <b>tags</b> & more")
    root = feed(client, "/feeds/observations/T-1.atom")
    assert root.find(f"{ATOM}entry").findtext(f"{ATOM}content") == "bell  and <b>tags</b> & more"
    registry = feed(client, "/feeds/observations.atom").find(f"{ATOM}entry")
    assert registry.findtext(f"{ATOM}content").endswith("Control  character")
