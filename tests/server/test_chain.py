"""A discovers, B connects, C unifies, D explains, E applies — and B reproduces A's
observation with `tycho rerun --post`. The registry keeps the graph, the credit and
the news of it. (The same story is told in docs/community.md.)"""

from __future__ import annotations

from contextlib import ExitStack
from xml.etree import ElementTree

import bibtexparser
import httpx
import pytest
from bibtexparser import middlewares

from runner.client import Client
from tests.conftest import TINY_RECIPE
from tests.runner.test_cli import run_and_post_the_tiny_recipe, tycho

ATOM = "{http://www.w3.org/2005/Atom}"
PEOPLE = [("ada", "Ada Lovelace"), ("ben", "Ben Franklin"), ("cy", "Cy Young"),
          ("dee", "Dee Dee Ramone"), ("eve", "Eve Curie")]


def toy(title: str, steps: int = 30) -> dict:
    """An observation of the tiny submitted-source recipe (no worker runs in this test)."""
    xs = list(range(steps))
    return {"title": title, "tags": ["toy"], "recipe": {"source": TINY_RECIPE},
            "config": {"steps": steps}, "metrics": {"mean": {"x": xs, "y": [0.5] * steps}},
            "claims": ["final(mean) between 0.3 and 0.7"]}


def atom_entries(url: str) -> list[tuple[str, str]]:
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    root = ElementTree.fromstring(response.content)
    return [(e.findtext(f"{ATOM}id"), e.findtext(f"{ATOM}title"))
            for e in root.findall(f"{ATOM}entry")]


@pytest.fixture
def registry(live_server):
    """A live server and five registered people, A to E, each with a client."""
    server = live_server(TYCHO_VERIFY_SEEDS="0", TYCHO_PUBLIC_URL="https://tycho.example")
    with ExitStack() as stack:
        clients = [stack.enter_context(Client(server.url, token="")) for _ in PEOPLE]
        for client, (handle, name) in zip(clients, PEOPLE):
            client.register(handle, name)
        yield server, clients


def test_a_to_e_chain_keeps_the_graph_the_credit_and_the_news(registry, tmp_path):
    server, (a, b, c, d, e) = registry

    # A discovers: runs the recipe and posts it with the CLI.
    env = {"TYCHO_SERVER": server.url, "TYCHO_TOKEN": a.token}
    assert run_and_post_the_tiny_recipe(tmp_path, env) == "T-1"

    # B connects, C unifies both in one request, D explains C's, E applies D's.
    assert b.post_observation(toy("Running sums drift like random walks"))["id"] == "T-2"
    b.link("T-2", "connects", "T-1", note="both are sums of uniform draws")
    assert c.post_observation(toy("The law of large numbers, twice"))["id"] == "T-3"
    unified = c.link("T-3", "unifies", targets=["T-1", "T-2"], note="one theorem")
    assert [l["target"]["id"] for l in unified] == ["T-1v1", "T-2v1"]
    assert d.post_observation(toy("Why: variance falls as 1/n"))["id"] == "T-4"
    d.link("T-4", "explains", "T-3")
    assert e.post_observation(toy("Early stopping a running mean"))["id"] == "T-5"
    e.link("T-5", "applies", "T-4")

    # B reproduces A's observation on their own machine and posts it.
    again = tycho("rerun", "T-1", "--yes", "--post",
                  env={"TYCHO_SERVER": server.url, "TYCHO_TOKEN": b.token})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "posted T-6, linked reproduces T-1" in again.stdout

    # Someone comments on a point of A's curve.
    remark = c.comment("T-1", "Here the mean is already within 0.05 of 1/2.", series="mean", x=20)
    assert (remark["series"], remark["x"]) == ("mean", 20.0)

    # The graph from A's observation is exactly that story.
    graph = a.graph("T-1", depth=3)
    assert {(n["id"], n["distance"], n["author"]) for n in graph["nodes"]} == {
        ("T-1v1", 0, "ada"), ("T-2v1", 1, "ben"), ("T-3v1", 1, "cy"), ("T-6v1", 1, "ben"),
        ("T-4v1", 2, "dee"), ("T-5v1", 3, "eve")}
    story = [(x["source"], x["relation"], x["target"], x["author"]) for x in graph["edges"]]
    assert story == [
        ("T-2v1", "connects", "T-1v1", "ben"),
        ("T-3v1", "unifies", "T-1v1", "cy"),
        ("T-3v1", "unifies", "T-2v1", "cy"),
        ("T-4v1", "explains", "T-3v1", "dee"),
        ("T-5v1", "applies", "T-4v1", "eve"),
        ("T-6v1", "reproduces", "T-1v1", "ben"),
    ]
    assert a.reproductions("T-1") == {"verdict": "unverified", "reproduced_by": 1,
                                      "failed_by": 0}

    # The chain citation credits all five, once each, in order of contribution.
    cited = tycho("cite", "T-1", "--chain", "--depth", "3", "--server", server.url)
    assert cited.returncode == 0, cited.stderr
    library = bibtexparser.parse_string(cited.stdout, append_middleware=[
        middlewares.SeparateCoAuthors(), middlewares.SplitNameParts()])
    assert not library.failed_blocks
    joint, *entries = library.entries
    assert joint.key == "tycho:chain:T-1v1"
    assert [" ".join(p.first + p.last) for p in joint["author"]] == [n for _, n in PEOPLE]
    assert [x.key for x in entries] == [f"tycho:T-{n}v1" for n in (1, 2, 3, 6, 4, 5)]
    assert entries[0]["url"] == "https://tycho.example/T-1v1"
    order = library.comments[0].comment
    assert order.index("Ada Lovelace") < order.index("Ben Franklin") < order.index(
        "Cy Young") < order.index("Dee Dee Ramone") < order.index("Eve Curie")

    # The feeds tell it as it happened, newest first.
    base = "https://tycho.example"
    assert atom_entries(f"{server.url}/feeds/observations/T-1.atom") == [
        (f"{base}/T-1v1#comment-{remark['id']}", "cy commented on T-1v1 at mean, x = 20"),
        (f"{base}/T-6v1#link-6", "T-6v1 reproduces T-1v1"),
        (f"{base}/T-3v1#link-2", "T-3v1 unifies T-1v1"),
        (f"{base}/T-2v1#link-1", "T-2v1 connects T-1v1"),
    ]
    assert [i for i, _ in atom_entries(f"{server.url}/feeds/observations.atom")] == [
        f"{base}/T-{n}v1" for n in (6, 5, 4, 3, 2, 1)]
