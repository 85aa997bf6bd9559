"""/compare?ids=T-1,T-9: observations side by side, and its JSON twin."""

from __future__ import annotations

import re

import pytest

from tests.conftest import observation_body, register
from tests.web.sweep_data import post_sweep_2d
from tests.web.test_pages import plot_figures
from tests.web.test_twins import LINK


@pytest.fixture
def three(client, alice, verify):
    """T-1 (verified: fragile), T-2 with another weight decay and lr, T-3 with another
    series; T-1 has a second version."""
    client.post("/api/v1/observations", headers=alice, json=observation_body(
        config={"weight_decay": 1.0, "lr": 0.001, "p": 97}))
    verify()
    bob = register(client, "bob")
    client.post("/api/v1/observations", headers=bob, json=observation_body(
        title="Less decay <b>bold</b>", config={"weight_decay": 0.1, "lr": 0.003, "p": 97}))
    metrics = {**observation_body()["metrics"], "weight_norm": {"x": [0, 1], "y": [3, 2]}}
    client.post("/api/v1/observations", headers=bob, json=observation_body(
        title="With norms", metrics=metrics, config={"weight_decay": 1.0, "p": 97,
                                                     "note": "<script>x</script>"}))
    client.post("/api/v1/observations/T-1/versions", headers=alice, json=observation_body(
        change_message="longer", config={"weight_decay": 1.0, "lr": 0.001, "p": 113}))
    return client


def test_compare_overlays_shared_series_diffs_configs_and_sets_claims_side_by_side(three):
    client = three
    page = client.get("/compare?ids=T-1v1,T-2,T-3")
    assert page.status_code == 200, page.text
    record = page.context["record"]
    assert record.ids == ["T-1v1", "T-2v1", "T-3v1"]
    assert record.shared_series == ["train_acc", "test_acc"]  # weight_norm is T-3's alone
    figures = plot_figures(page.text)
    assert [f["kind"] for f in figures] == ["overlay", "overlay"]
    assert [t["name"] for t in figures[0]["data"]] == ["T-1v1", "T-2v1", "T-3v1"]
    assert len({t["line"]["color"] for t in figures[0]["data"]}) == 3
    assert figures[0]["layout"]["showlegend"] is True
    assert "Only in T-3v1: weight_norm" in page.text

    rows = {row.key: row for row in record.config}
    assert [row.key for row in record.config] == ["lr", "note", "weight_decay", "p"]
    assert rows["weight_decay"].differs and rows["weight_decay"].values == [1.0, 0.1, 1.0]
    assert rows["lr"].present == [True, True, False] and rows["lr"].differs
    assert not rows["p"].differs
    html = page.text
    differing = html.split('<details class="config-equal">')[0]
    assert differing.count('<tr class="differs">') == 3 and '<tr class="same">' not in differing
    assert '<span class="missing">absent</span>' in html
    # Everything a person wrote is escaped, in the table as in the titles.
    assert "<script>x</script>" not in html and "<b>bold</b>" not in html
    assert "\\u003cscript\\u003ex\\u003c/script\\u003e" in html

    t1 = record.observations[0]
    assert t1.verdict == "fragile" and t1.claims[1].pass_rate == 0.5
    assert record.observations[1].verdict == "unverified"
    claims = html.split('id="claims"')[1]
    assert claims.count("<article") == 3 and "50%" in claims

    # The twin answers that record, and the page links it.
    twin = LINK.match(page.headers["link"]).group(1)
    assert twin.endswith("/api/v1/compare?ids=T-1v1%2CT-2v1%2CT-3v1")
    assert client.get(twin).json() == record.model_dump(mode="json")


def test_latest_versions_by_default_and_checkbox_style_ids(three):
    record = three.get("/compare?ids=T-1&ids=T-2").context["record"]
    assert record.ids == ["T-1v2", "T-2v1"]
    assert [row.key for row in record.config if row.differs] == ["lr", "p", "weight_decay"]


@pytest.mark.parametrize("ids, status, words", [
    ("T-1", 422, "compare 2 to 8 observations; ids names 1"),
    ("T-1,T-2,T-3,T-1v1,T-2,T-3,T-1,T-2,T-3", 422, "compare 2 to 8"),
    ("T-1,T-99", 404, "T-99"),
    ("T-1,banana", 404, "'banana' is not an observation id"),
    ("T-1,T-1v2", 422, "a second time"),
    (",", 422, "ids names 0"),
])
def test_a_bad_comparison_says_what_to_fix(three, ids, status, words):
    api = three.get(f"/api/v1/compare?ids={ids}")
    assert api.status_code == status and words in api.json()["detail"], api.text
    page = three.get(f"/compare?ids={ids}")
    assert page.status_code == status and words in page.text.replace("&#39;", "'")


def test_without_ids_the_page_asks_which_to_compare(three):
    page = three.get("/compare")
    assert page.status_code == 200 and 'name="ids"' in page.text
    assert three.get("/api/v1/compare").json()["observations"] == []


def test_a_sweeps_grid_series_are_not_overlaid_as_curves(client, alice):
    first = post_sweep_2d(client, alice)
    second = post_sweep_2d(client, alice)
    page = client.get(f"/compare?ids={first},{second}")
    assert page.status_code == 200
    assert page.context["record"].shared_series == ["grok_step", "grok_step_min", "grok_step_max"]
    assert "share no series that can be drawn as curves" in page.text
    assert not re.search(r'id="tycho-plots"', page.text)


def test_a_phenomenons_page_offers_to_compare_and_shows_which_config_keys_differ(three):
    page = three.get("/phenomena/grokking")
    assert page.status_code == 200
    html = page.text
    form = html.split('<form method="get" action="/compare"')[1].split("</form>")[0]
    assert re.findall(r'name="ids" value="([^"]+)"', form) == ["T-3v1", "T-2v1", "T-1v2"]
    differences = {row.key: row for row in page.context["record"].config_differences}
    assert sorted(differences) == ["lr", "note", "p", "weight_decay"]
    decay = differences["weight_decay"]
    assert [(v.value, v.observations) for v in decay.values] == [(1.0, ["T-3", "T-1"]),
                                                                 (0.1, ["T-2"])]
    assert differences["lr"].absent == ["T-3"] and differences["p"].values[1].value == 113
    assert "<script>x</script>" not in html
    twin = three.get(LINK.match(page.headers["link"]).group(1)).json()
    assert twin["config_differences"][0]["key"] == "lr"
    # What the form sends, the comparison takes.
    picked = three.get("/compare?ids=T-3v1&ids=T-1v2")
    assert picked.status_code == 200 and picked.context["record"].ids == ["T-3v1", "T-1v2"]


def test_a_phenomenon_whose_observations_share_a_config_says_so(client, alice):
    for _ in range(2):
        client.post("/api/v1/observations", headers=alice, json=observation_body())
    page = client.get("/phenomena/grokking")
    assert "share one config" in page.text and page.context["record"].config_differences == []
