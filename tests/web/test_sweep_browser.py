"""A real Chromium on the pictures of issue 13: a heatmap phase diagram (hover, click to a
cell's run), a 1-D sweep's band, groups and the reader's overlay, /compare, and picking
observations to compare on a phenomenon's page.

Needs Chromium, as tests/web/test_browser.py does. Leaves screenshots in artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from server.testing import LiveServer
from tests.conftest import observation_body
from tests.web.sweep_data import post_sweep_1d, post_sweep_2d
from tests.web.test_browser import CHROMIUM, DRAW_TIMEOUT_MS, ROOT, SERVER_START_TIMEOUT_S
from tests.web.test_browser import browser  # noqa: F401 - a fixture

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "artifacts"
SERIES = {
    "train_acc": {"x": list(range(0, 1000, 10)), "y": [min(1, i / 30) for i in range(100)]},
    "test_acc": {"x": list(range(0, 1000, 10)), "y": [min(1, (i / 80) ** 3) for i in range(100)]},
    "train_loss": {"x": list(range(0, 1000, 10)), "y": [3 / (1 + i) for i in range(100)]},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A `tycho serve --no-worker` with a 2-D and a 1-D sweep, and two observations with a
    group of series whose configs differ. Yields (base URL, {name: ref})."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set TYCHO_CHROMIUM")
    workdir = tmp_path_factory.mktemp("sweeps")
    db = workdir / "tycho.db"
    with LiveServer("--no-worker", "--db", str(db), log_path=workdir / "serve.log", cwd=ROOT,
                    start_timeout_s=SERVER_START_TIMEOUT_S) as server:
        api = httpx.Client(base_url=server.url, timeout=60)
        token = api.post("/api/v1/users", json={"handle": "alice"}).json()["token"]
        alice = {"Authorization": f"Bearer {token}"}
        refs = {"grid": post_sweep_2d(api, alice),
                "curve": post_sweep_1d(api, alice)}
        for name, decay in (("first", 1.0), ("second", 0.1)):
            # Less weight decay, later generalisation: test_acc rises later.
            metrics = {**SERIES, "test_acc": {"x": SERIES["test_acc"]["x"], "y": [
                min(1, (i / (80 / decay ** 0.2)) ** 3) for i in range(100)]}}
            body = observation_body(title=f"Grokking at weight decay {decay}", metrics=metrics,
                                    groups=[["train_acc", "test_acc"]],
                                    config={"weight_decay": decay, "p": 97})
            answer = api.post("/api/v1/observations", json=body, headers=alice)
            assert answer.status_code == 201, answer.text
            refs[name] = answer.json()["ref"]
        yield server.url, refs


@pytest.fixture
def page(site, browser):  # noqa: F811 - the fixture imported above
    base, _ = site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert errors == []
    context.close()


def texts(locator) -> list[str]:
    """The text of each element (SVG text too, which has no inner text)."""
    return locator.evaluate_all("elements => elements.map(e => e.textContent)")


def _point_on(page, plot_id: str, x, y) -> tuple[float, float]:
    """Where the data point (x, y) of a plot is on the screen."""
    return page.evaluate(
        """([id, x, y]) => {
            const gd = document.getElementById(id);
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
            return [box.left + xa.d2p(x), box.top + ya.d2p(y)];
        }""", [plot_id, x, y])


def test_the_heatmap_shows_both_knobs_and_values_on_hover_and_a_click_opens_the_run(site, page):
    _, refs = site
    page.goto(f"/{refs['grid']}")
    page.wait_for_selector("#plot-0 .heatmaplayer image, #plot-0 .hm image",
                           state="attached", timeout=DRAW_TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#metrics").screenshot(path=str(ARTIFACTS / "sweep-heatmap.png"))
    labels = texts(page.locator("#plot-0 .heatmap-label"))
    assert len(labels) == 12 and "10k" in labels  # a value written in each cell
    assert page.locator("#plot-0 .colorbar").count() == 1
    x, y = _point_on(page, "plot-0", 2, 1)  # category axes: the third column, second row
    page.mouse.move(x, y)
    hover = page.locator("#plot-0 .hoverlayer .hovertext")
    hover.wait_for(timeout=DRAW_TIMEOUT_MS)
    text = hover.text_content()
    assert "weight_decay = 1" in text and "train_fraction = 0.3" in text, text
    assert "grok_step = 2,035 (mean of 2 seeds)" in text and "min 1,870, max 2,200" in text
    assert "seeds: 0, 1" in text
    page.locator("#metrics").screenshot(path=str(ARTIFACTS / "sweep-heatmap-hover.png"))
    page.mouse.click(x, y)
    page.wait_for_url("**/runs/*", timeout=DRAW_TIMEOUT_MS)
    assert "weight_decay = 1, train_fraction = 0.3" in page.locator("h1").inner_text()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length === 2",
                           timeout=DRAW_TIMEOUT_MS)
    page.screenshot(path=str(ARTIFACTS / "run.png"), full_page=True)


def test_a_1d_sweep_draws_its_band_and_markers_and_a_marker_opens_its_run(site, page):
    _, refs = site
    page.goto(f"/{refs['curve']}")
    page.wait_for_selector("#plot-0 .scatterlayer .trace", timeout=DRAW_TIMEOUT_MS)
    band = page.locator("#plot-0 .scatterlayer .trace path.js-fill")
    assert band.count() == 1 and len(band.get_attribute("d")) > 20
    assert page.locator("#plot-0 .scatterlayer .trace .points path").count() == 4
    assert texts(page.locator("#plot-0 .legendtext")) == [
        "min–max over 3 seeds", "mean over 3 seeds"]
    page.locator("#metrics").screenshot(path=str(ARTIFACTS / "sweep-band.png"))
    x, y = _point_on(page, "plot-0", 1.0, page.evaluate(
        "document.getElementById('plot-0').data[2].y[2]"))
    page.mouse.move(x, y)
    page.locator("#plot-0 .hoverlayer .hovertext").wait_for(timeout=DRAW_TIMEOUT_MS)
    assert "min " in page.locator("#plot-0 .hoverlayer").text_content()
    page.mouse.click(x, y)
    page.wait_for_url("**/runs/*", timeout=DRAW_TIMEOUT_MS)
    assert "weight_decay = 1 · seed 0" in page.locator("h1").inner_text()


def test_a_group_is_one_plot_with_a_legend_and_the_reader_overlays_another_series(site, page):
    _, refs = site
    page.goto(f"/{refs['first']}")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length === 2",
                           timeout=DRAW_TIMEOUT_MS)
    assert texts(page.locator("#plot-g0 .legendtext")) == [
        "train_acc · author · seed 0", "test_acc · author · seed 0"]
    panel = page.locator("figure:has(#plot-g0)")
    panel.locator("select").select_option("train_loss")
    panel.locator("button[type=submit]").click()
    page.wait_for_function(
        "document.querySelectorAll('#plot-g0 .scatterlayer .trace').length === 3")
    assert "train_loss · author · seed 0" in texts(page.locator("#plot-g0 .legendtext"))
    assert panel.locator("form.overlay-form").is_hidden()  # nothing more to add
    # And the other way: the lone series gets both of the group's, named by series.
    lone = page.locator("figure:has(#plot-2)")
    lone.locator("select").select_option("test_acc")
    lone.locator("button[type=submit]").click()
    page.wait_for_function(
        "document.querySelectorAll('#plot-2 .legendtext').length === 2")
    assert texts(page.locator("#plot-2 .legendtext")) == [
        "train_loss · author · seed 0", "test_acc · author · seed 0"]
    page.locator("#metrics").screenshot(path=str(ARTIFACTS / "groups-overlay.png"))


def test_pick_two_on_the_phenomenon_page_and_compare_them(site, page):
    _, refs = site
    page.goto("/phenomena/grokking")
    assert "weight_decay" in page.locator("table.key-diff").text_content()
    for name in ("first", "second"):
        page.check(f"#compare input[value='{refs[name]}']")
    page.click("#compare button[type=submit]")
    page.wait_for_url("**/compare?*", timeout=DRAW_TIMEOUT_MS)
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length === 6",
        timeout=DRAW_TIMEOUT_MS)  # three shared series, two observations each
    assert texts(page.locator("#plot-0 .legendtext")) == [refs["second"],
                                                                     refs["first"]] or \
        sorted(texts(page.locator("#plot-0 .legendtext"))) == sorted(
            [refs["first"], refs["second"]])
    differing = page.locator("table.config-diff tr.differs")
    assert differing.count() == 1 and "weight_decay" in differing.text_content()
    assert page.locator("details.config-equal").get_attribute("open") is None
    assert page.locator(".compare-claims article").count() == 2
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
