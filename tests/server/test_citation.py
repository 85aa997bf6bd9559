"""Citations of a version and of a chain, checked with real parsers: bibtexparser v2 for
BibTeX, the CSL-JSON item rules, and the official CITATION.cff 1.2.0 JSON schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import bibtexparser
import jsonschema
import pytest
import yaml
from bibtexparser import middlewares
from hypothesis import given
from hypothesis import strategies as st
from pylatexenc.latex2text import LatexNodes2Text  # bibtexparser's own LaTeX decoder
from sqlalchemy import text

from server.citations.formats import cff_yaml, latex_escape
from server.db import session_for
from tests.conftest import observation_body, register

# The official schema of CITATION.cff 1.2.0, as cffconvert 2.0.0 ships it
# (https://citation-file-format.github.io/1.2.0/schema.json), by the Citation File
# Format project under CC-BY-4.0; vendored unchanged so the tests need no network.
CFF_SCHEMA = json.loads((Path(__file__).parent / "cff-1.2.0-schema.json").read_text())
# From the CSL-JSON schema (citation-style-language/schema, csl-data.json).
CSL_REQUIRED = {"id", "type"}
CSL_NAME_PARTS = {"family", "given", "dropping-particle", "non-dropping-particle", "suffix",
                  "comma-suffix", "static-ordering", "literal", "parse-names"}
CSL_FIELDS_USED = {"id", "type", "title", "author", "issued", "accessed", "version",
                   "publisher", "genre", "URL", "note", "keyword", "custom"}
ORCID = "0000-0002-1825-0097"
# Every character LaTeX treats specially, and braces that nest.
NASTY_TITLE = r"50% of {weights} & $x_1$ #3 ~ a\b: {grokking}"
TODAY = datetime.now(UTC).date()


def parse_bibtex(source: str):
    """Parsed as BibTeX does: authors split first, then LaTeX decoded in the other fields."""
    library = bibtexparser.parse_string(source, append_middleware=[
        middlewares.SeparateCoAuthors(), middlewares.SplitNameParts(),
        middlewares.LatexDecodingMiddleware()])
    assert not library.failed_blocks, [b.error for b in library.failed_blocks]
    return library


def names(entry) -> list[str]:
    """Each author as a reader sees it (LaTeX decoded, protective braces gone)."""
    decode = LatexNodes2Text().latex_to_text
    return [decode(" ".join(p.first + p.von + p.last)) for p in entry["author"]]


def set_verdict(settings, ref_id: int, verdict: str) -> None:
    with session_for(settings.resolved_database_url()) as session:
        session.execute(text("UPDATE observation_version SET verdict = :v "
                             "WHERE observation_id = :o"), {"v": verdict, "o": ref_id})


@pytest.fixture
def ada(client):
    response = client.post("/api/v1/users", json={
        "handle": "ada", "display_name": "Ada Lovelace", "orcid": ORCID,
        "affiliation": "Analytical Engines Ltd"})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def cited(client, ada, settings):
    """T-1 by Ada, revised to v2, with the verdict `robust`."""
    client.post("/api/v1/observations", json=observation_body(title=NASTY_TITLE), headers=ada)
    body = {**observation_body(title=NASTY_TITLE), "change_message": "longer run"}
    client.post("/api/v1/observations/T-1/versions", json=body, headers=ada)
    set_verdict(settings, 1, "robust")
    return "T-1"


def cite(client, ref: str, **params):
    response = client.get(f"/api/v1/observations/{ref}/cite", params=params)
    assert response.status_code == 200, response.text
    return response


# --- one version ----------------------------------------------------------------------


def test_bibtex_of_a_version(client, cited):
    response = cite(client, "T-1v2", format="bibtex")
    assert response.headers["content-type"] == "text/x-bibtex; charset=utf-8"
    [entry] = parse_bibtex(response.text).entries
    assert (entry.entry_type, entry.key) == ("misc", "tycho:T-1v2")
    assert names(entry) == ["Ada Lovelace"] and entry["author"][0].last == ["Lovelace"]
    assert entry["title"] == NASTY_TITLE  # escaped, and decoded back to itself
    assert entry["year"] == str(TODAY.year)
    assert entry["url"] == "http://127.0.0.1:8000/T-1v2"
    assert entry["version"] == "2"
    assert "verdict: robust" in entry["note"] and TODAY.isoformat() in entry["note"]
    assert ORCID in entry["orcid"]


def test_the_default_is_the_latest_version_and_the_key_names_it(client, cited):
    [entry] = parse_bibtex(cite(client, "T-1").text).entries
    assert entry.key == "tycho:T-1v2"
    [old] = parse_bibtex(cite(client, "T-1v1").text).entries
    assert (old.key, old["version"], old["url"]) == (
        "tycho:T-1v1", "1", "http://127.0.0.1:8000/T-1v1")


def test_the_note_gives_the_verdict_at_the_time_of_citing(client, cited, settings):
    set_verdict(settings, 1, "fragile")
    [entry] = parse_bibtex(cite(client, "T-1").text).entries
    assert "verdict: fragile" in entry["note"]


def test_csl_json_of_a_version(client, cited):
    response = cite(client, "T-1v2", format="csl-json")
    assert response.headers["content-type"] == "application/vnd.citationstyles.csl+json"
    [item] = json.loads(response.text)
    check_csl_item(item)
    assert item["id"] == "tycho:T-1v2" and item["type"] == "dataset"
    assert item["author"] == [{"family": "Lovelace", "given": "Ada"}]
    assert item["title"] == NASTY_TITLE
    assert item["issued"]["date-parts"][0][0] == TODAY.year
    assert (item["URL"], item["version"]) == ("http://127.0.0.1:8000/T-1v2", "2")
    assert "verdict: robust" in item["note"]
    assert item["custom"]["authors"] == [{"name": "Ada Lovelace", "handle": "ada",
                                          "orcid": f"https://orcid.org/{ORCID}"}]


def check_csl_item(item: dict) -> None:
    """The rules of csl-data.json for what we write: required fields, names, dates."""
    assert CSL_REQUIRED <= set(item) and set(item) <= CSL_FIELDS_USED, set(item)
    assert isinstance(item["id"], str) and item["type"] in {"dataset", "article"}
    for name in item["author"]:
        assert name and set(name) <= CSL_NAME_PARTS and all(isinstance(v, str)
                                                           for v in name.values())
    for key in ("issued", "accessed"):
        [parts] = item[key]["date-parts"]
        assert 1 <= len(parts) <= 3 and all(isinstance(p, int) for p in parts)
    for key in ("title", "URL", "note", "publisher", "genre"):
        assert isinstance(item[key], str)


def load_cff(source: str) -> dict:
    document = yaml.safe_load(source)
    jsonschema.validate(document, CFF_SCHEMA, format_checker=jsonschema.FormatChecker())
    return document


def test_cff_of_a_version_is_valid_cff_1_2_0(client, cited):
    response = cite(client, "T-1v2", format="cff")
    assert response.headers["content-type"].startswith("text/plain")
    assert 'filename="CITATION.cff"' in response.headers["content-disposition"]
    document = load_cff(response.text)
    assert document["cff-version"] == "1.2.0" and document["type"] == "dataset"
    assert document["title"] == NASTY_TITLE
    assert document["authors"] == [{
        "family-names": "Lovelace", "given-names": "Ada", "alias": "ada",
        "orcid": f"https://orcid.org/{ORCID}", "affiliation": "Analytical Engines Ltd"}]
    assert (document["version"], document["url"]) == ("2", "http://127.0.0.1:8000/T-1v2")
    assert document["date-released"] == TODAY.isoformat()
    assert "verdict: robust" in document["message"]


def test_an_unknown_format_or_observation_is_refused(client, cited):
    response = client.get("/api/v1/observations/T-1/cite", params={"format": "ris"})
    assert response.status_code == 422
    assert "bibtex, csl-json, cff" in response.json()["detail"]
    assert client.get("/api/v1/observations/T-7/cite").status_code == 404
    deep = client.get("/api/v1/observations/T-1/cite", params={"chain": "true", "depth": 9})
    assert deep.status_code == 422 and "1 to 5" in deep.json()["detail"]


# --- names and text that need care ------------------------------------------------------


@pytest.mark.parametrize("display, family, given", [
    ("Tom and Jerry Smith", "Smith", "Tom and Jerry"),
    ("van der Berg, Jan", "van der Berg", "Jan"),
    ("Plato", "Plato", None),
    ("Łukasz Kaiser", "Kaiser", "Łukasz"),
])
def test_names_survive_every_format(client, display, family, given):
    response = client.post("/api/v1/users", json={"handle": "someone", "display_name": display})
    headers = {"Authorization": f"Bearer {response.json()['token']}"}
    client.post("/api/v1/observations", json=observation_body(), headers=headers)
    [entry] = parse_bibtex(cite(client, "T-1").text).entries
    assert names(entry) == [f"{given} {family}" if given else family]  # one name, not split
    [item] = json.loads(cite(client, "T-1", format="csl-json").text)
    assert item["author"][0] == {"family": family, **({"given": given} if given else {})}
    person = load_cff(cite(client, "T-1", format="cff").text)["authors"][0]
    assert (person["family-names"], person.get("given-names")) == (family, given)


def test_the_built_in_phenomena_are_cited_as_an_organisation(client, settings):
    """Issue 12, friction 4: `author = {phenomena, Tycho built-in}`, `family-names: phenomena`."""
    from server.initial_data import seed_canonical

    with session_for(settings.resolved_database_url()) as session:
        seed_canonical(session=session, settings=settings)
    bibtex = cite(client, "T-1").text
    assert "author       = {{Tycho built-in phenomena}}," in bibtex
    [entry] = parse_bibtex(bibtex).entries
    [author] = entry["author"]
    assert (author.last, author.first) == (["{Tycho built-in phenomena}"], [])  # not split
    assert names(entry) == ["Tycho built-in phenomena"]
    [item] = json.loads(cite(client, "T-1", format="csl-json").text)
    assert item["author"] == [{"literal": "Tycho built-in phenomena"}]
    assert set(item["author"][0]) <= CSL_NAME_PARTS
    document = load_cff(cite(client, "T-1", format="cff").text)
    assert document["authors"] == [{"name": "Tycho built-in phenomena", "alias": "tycho"}]


def test_latex_specials_are_escaped_and_loose_braces_never_unbalance_bibtex():
    assert latex_escape("a_b ^ ~ \\ % & # $") == (
        r"a\_b \textasciicircum{} \textasciitilde{} \textbackslash{} \% \& \# \$")
    assert latex_escape("{nested {ok}}") == r"\{nested \{ok\}\}"
    assert latex_escape("} a {") == r"\textbraceright{} a \textbraceleft{}"
    assert latex_escape("two\n lines") == "two lines"


@given(st.text(max_size=80))
def test_any_title_gives_bibtex_whose_braces_balance(title):
    # BibTeX counts every brace, escaped or not, so the escaped text must balance.
    depth = 0
    for char in latex_escape(title):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    entry = f"@misc{{k,\n  title = {{{{{latex_escape(title)}}}}},\n}}\n"
    assert len(bibtexparser.parse_string(entry).entries) == 1


@given(st.text(max_size=80))
def test_any_text_survives_the_cff_writer(value):
    assert yaml.safe_load(cff_yaml({"title": value, "authors": [{"alias": value}]})) == {
        "title": value, "authors": [{"alias": value}]}


# --- a chain --------------------------------------------------------------------------


@pytest.fixture
def chain(client, ada):
    """Ada posts T-1; Bob posts T-2 and connects it; Carol posts T-3, which unifies both
    and extends a paper; Dan (no display name) links T-3 from T-4; Bob also comments."""
    bob = register(client, "bob")
    carol = register(client, "carol")
    dan = client.post("/api/v1/users", json={"handle": "dan"}).json()["token"]
    dan = {"Authorization": f"Bearer {dan}"}
    for headers in (ada, bob, carol, dan):
        client.post("/api/v1/observations", json=observation_body(), headers=headers)
    for headers, source, body in [
        (bob, "T-2", {"relation": "connects", "target": "T-1"}),
        (carol, "T-3", {"relation": "unifies", "targets": ["T-1", "T-2"]}),
        (carol, "T-3", {"relation": "extends", "external": "2201.02177"}),
        (dan, "T-4", {"relation": "explains", "target": "T-3"}),
    ]:
        response = client.post(f"/api/v1/observations/{source}/links", json=body,
                               headers=headers)
        assert response.status_code == 201, response.text
    return "T-1"


def test_a_chain_in_bibtex_credits_everyone_once_in_order(client, chain):
    source = cite(client, "T-1", format="bibtex", chain="true", depth=2).text
    library = parse_bibtex(source)
    assert source.startswith("@comment{")
    [comment] = library.comments
    assert "Ada Lovelace (ada, ORCID 0000-0002-1825-0097)" in comment.comment
    assert "arXiv:2201.02177" in comment.comment
    keys = [e.key for e in library.entries]
    assert keys == ["tycho:chain:T-1v1", "tycho:T-1v1", "tycho:T-2v1", "tycho:T-3v1",
                    "tycho:T-4v1"]
    joint = library.entries[0]
    assert names(joint) == ["Ada Lovelace", "Bob", "Carol", "dan"]
    assert "T-1v1, T-2v1, T-3v1, T-4v1" in joint["note"]
    assert [names(e) for e in library.entries[1:]] == [["Ada Lovelace"], ["Bob"], ["Carol"],
                                                        ["dan"]]


def test_a_chain_stops_at_its_depth(client, chain):
    library = parse_bibtex(cite(client, "T-1", chain="true", depth=1).text)
    assert [e.key for e in library.entries] == [
        "tycho:chain:T-1v1", "tycho:T-1v1", "tycho:T-2v1", "tycho:T-3v1"]
    assert names(library.entries[0]) == ["Ada Lovelace", "Bob", "Carol"]


def test_making_a_link_in_the_chain_is_a_contribution(client, chain):
    eve = register(client, "eve")
    client.post("/api/v1/observations", json=observation_body(), headers=eve)
    # Eve's observation is outside, but her link from T-2 to T-3 joins two inside.
    response = client.post("/api/v1/observations/T-2/links",
                           json={"relation": "varies", "target": "T-3"}, headers=eve)
    assert response.status_code == 201
    library = parse_bibtex(cite(client, "T-1", chain="true", depth=1).text)
    assert names(library.entries[0]) == ["Ada Lovelace", "Bob", "Carol", "Eve"]
    assert "tycho:T-5v1" not in [e.key for e in library.entries]


def test_a_chain_in_csl_json_and_cff(client, chain):
    items = json.loads(cite(client, "T-1", format="csl-json", chain="true", depth=2).text)
    for item in items:
        check_csl_item(item)
    assert [i["id"] for i in items][:2] == ["tycho:chain:T-1v1", "tycho:T-1v1"]
    assert items[0]["author"] == [{"family": "Lovelace", "given": "Ada"}, {"family": "Bob"},
                                  {"family": "Carol"}, {"family": "dan"}]
    document = load_cff(cite(client, "T-1", format="cff", chain="true", depth=2).text)
    assert [a["alias"] for a in document["authors"]] == ["ada", "bob", "carol", "dan"]
    assert [r["url"].rsplit("/", 1)[1] for r in document["references"]] == [
        "T-1v1", "T-2v1", "T-3v1", "T-4v1"]


def test_two_people_with_one_name_are_two_cff_authors(client):
    for handle in ("jo1", "jo2"):
        register_as = client.post("/api/v1/users", json={"handle": handle,
                                                         "display_name": "Jo Smith"})
        headers = {"Authorization": f"Bearer {register_as.json()['token']}"}
        client.post("/api/v1/observations", json=observation_body(), headers=headers)
    client.post("/api/v1/observations/T-2/links", json={"relation": "varies", "target": "T-1"},
                headers=headers)
    document = load_cff(cite(client, "T-1", format="cff", chain="true", depth=1).text)
    assert [a["alias"] for a in document["authors"]] == ["jo1", "jo2"]
