"""The observation page's pictures beyond one series per plot: groups of series overlaid,
1-D sweeps as curves with their seeds' band, 2-D sweeps as heatmaps; and a run's page."""

from __future__ import annotations

import re

from tests.conftest import observation_body
from tests.web.sweep_data import FRACTIONS, SEEDS, WEIGHT_DECAYS, post_sweep_1d, post_sweep_2d
from tests.web.test_pages import plot_figures

THREE_SERIES = {
    "train_acc": {"x": [0, 100, 200, 300], "y": [0.1, 1.0, 1.0, 1.0]},
    "test_acc": {"x": [0, 100, 200, 300], "y": [0.01, 0.05, 0.5, 0.99]},
    "train_loss": {"x": [0, 100, 200, 300], "y": [4.0, 0.1, 0.01, 0.001]},
    "weight_norm": {"x": [0, 100, 200, 300], "y": [40, 30, 20, 10]},
}


def test_a_group_is_one_panel_of_all_its_series_and_they_are_not_drawn_again(client, alice,
                                                                               verify):
    body = observation_body(metrics=THREE_SERIES, groups=[["train_acc", "test_acc"]])
    assert client.post("/api/v1/observations", json=body, headers=alice).status_code == 201
    verify()  # three more runs, overlaid in every panel
    page = client.get("/T-1")
    figures = plot_figures(page.text)
    assert [f["kind"] for f in figures] == ["group", "series", "series"]
    group = figures[0]
    assert group["id"] == "plot-g0" and group["layout"]["showlegend"] is True
    # Every run of both series, each trace saying which series it draws; the legend
    # names each series once (by its author's trace).
    assert sorted(t["meta"]["series"] for t in group["data"]) == ["test_acc"] * 4 + ["train_acc"] * 4
    legend = [t["name"] for t in group["data"] if t["showlegend"]]
    assert len(legend) == 2 and legend[0].startswith("train_acc") and legend[1].startswith("test_acc")
    colours = {t["meta"]["series"]: t["line"]["color"] for t in group["data"] if t["meta"]["author"]}
    assert colours["train_acc"] != colours["test_acc"]
    # The grouped series have no panel of their own; the others do.
    assert [f["data"][0]["meta"]["series"] for f in figures[1:]] == ["train_loss", "weight_norm"]
    html = page.text
    assert 'data-series="train_acc test_acc"' in html
    # The reader may overlay any other series on the same axis, in the browser.
    form = re.search(r'<form class="overlay-form" data-plot="plot-g0" hidden>(.*?)</form>', html,
                     re.DOTALL).group(1)
    assert re.findall(r'<option value="([^"]+)"', form) == ["train_loss", "weight_norm"]
    assert page.context["record"].groups == [["train_acc", "test_acc"]]
    assert client.get("/api/v1/observations/T-1").json()["groups"] == [["train_acc", "test_acc"]]


def test_without_groups_every_series_has_its_panel_and_an_overlay_form(client, alice):
    client.post("/api/v1/observations", json=observation_body(metrics=THREE_SERIES), headers=alice)
    figures = plot_figures(client.get("/T-1").text)
    assert [f["kind"] for f in figures] == ["series"] * 4
    assert all(not t["showlegend"] or t["meta"]["author"] for f in figures for t in f["data"])
    assert client.get("/T-1").text.count('class="overlay-form"') == 4


def test_a_1d_sweep_is_a_curve_with_markers_and_its_seeds_band(client, alice):
    ref = post_sweep_1d(client, alice)
    page = client.get(f"/{ref}")
    assert page.status_code == 200, page.text
    figures = plot_figures(page.text)
    # grok_step_min and grok_step_max are its band, not panels of their own.
    assert len(figures) == 1 and figures[0]["kind"] == "sweep"
    upper, lower, mean = figures[0]["data"]
    assert upper["y"] == [max(v) for v in _per_seed_1d()] and upper["line"]["width"] == 0
    assert lower["fill"] == "tonexty" and lower["y"] == [min(v) for v in _per_seed_1d()]
    assert mean["mode"] == "lines+markers" and mean["x"] == WEIGHT_DECAYS
    assert "mean of 3 seeds" in mean["hovertemplate"]
    # Each marker opens the run of its cell (the lowest seed), and says which seeds it has.
    url, seeds, low, high = mean["customdata"][1]
    assert re.fullmatch(rf"/{ref}/runs/\d+", url) and seeds == "0, 1, 2" and low < high
    assert client.get(url).status_code == 200
    html = page.text
    assert "A sweep over weight_decay" in html and "3 seeds per cell" in html
    assert html.count(f'href="/{ref}/runs/') == len(WEIGHT_DECAYS) * len(SEEDS)
    assert 'class="overlay-form"' not in html
    record = client.get(f"/api/v1/observations/{ref}").json()
    assert record["sweep"]["grid"] == {"weight_decay": WEIGHT_DECAYS}
    assert sum(1 for run in record["runs"] if run["cell"]) == len(WEIGHT_DECAYS) * len(SEEDS)


def _per_seed_1d():
    from tests.web.sweep_data import grok_step

    return [[grok_step(wd, 0.3, s) for s in SEEDS] for wd in WEIGHT_DECAYS]


def test_a_2d_sweep_is_a_heatmap_over_both_knobs_whose_cells_open_their_runs(
        client, alice):
    ref = post_sweep_2d(client, alice)
    page = client.get(f"/{ref}")
    assert page.status_code == 200, page.text
    figures = plot_figures(page.text)
    assert len(figures) == 1 and figures[0]["kind"] == "grid"
    (heatmap,) = figures[0]["data"]
    assert heatmap["type"] == "heatmap"
    assert heatmap["x"] == ["0", "0.1", "1", "5"] and heatmap["y"] == ["0.2", "0.3", "0.5"]
    assert len(heatmap["z"]) == len(FRACTIONS) and len(heatmap["z"][0]) == len(WEIGHT_DECAYS)
    from tests.web.sweep_data import grok_step

    # Row = train fraction, column = weight decay; the value is the mean over the seeds.
    assert heatmap["z"][1][2] == (grok_step(1.0, 0.3, 0) + grok_step(1.0, 0.3, 1)) / 2
    template = heatmap["hovertemplate"]
    assert "weight_decay = %{x}" in template and "train_fraction = %{y}" in template
    assert "%{z" in template and "min %{customdata[2]" in template
    url, seeds, low, high = heatmap["customdata"][1][2]
    assert seeds == "0, 1" and low == grok_step(1.0, 0.3, 0) and high == grok_step(1.0, 0.3, 1)
    run = client.get(url)
    assert run.status_code == 200
    assert run.context["record"].cell == {"weight_decay": 1.0, "train_fraction": 0.3}
    assert figures[0]["layout"]["xaxis"]["type"] == "category"
    assert "log x" not in page.text.split('id="plot-0"')[0].rsplit("<figure", 1)[1]


def test_a_runs_page_shows_its_cell_seed_timings_claims_and_series(client, alice):
    ref = post_sweep_1d(client, alice)
    record = client.get(f"/api/v1/observations/{ref}").json()
    cell_run = next(r for r in record["runs"] if r["cell"] == {"weight_decay": 1.0}
                    and r["seed"] == 2)
    page = client.get(f"/{ref}/runs/{cell_run['id']}")
    assert page.status_code == 200
    html = page.text
    assert "weight_decay" in html and "seed 2" in html and "12.5 s" in html
    figures = plot_figures(html)
    assert sorted(f["data"][0]["meta"]["series"] for f in figures) == ["test_acc", "train_acc"]
    twin = re.search(r'<link rel="alternate" type="application/json" href="([^"]+)">', html)
    assert twin.group(1) == f"/api/v1/observations/{ref}/runs/{cell_run['id']}"
    assert client.get(twin.group(1)).json() == page.context["record"].model_dump(mode="json")
    # A run of another version, or none, is not found.
    assert client.get(f"/{ref}/runs/999").status_code == 404
    client.post("/api/v1/observations", json=observation_body(), headers=alice)
    other_run = client.get("/api/v1/observations/T-2").json()["runs"][0]["id"]
    assert client.get(f"/{ref}/runs/{other_run}").status_code == 404
    assert client.get(f"/api/v1/observations/{ref}/runs/{other_run}").status_code == 404


def test_the_cells_a_worker_checked_are_told_apart_in_the_heatmap(client, alice, worker,
                                                                  settings):
    from runner.spec import JobComplete, RunResult, Verdict
    from tests.web.sweep_data import cell_run

    settings.sweep_verify_runs = 2
    ref = post_sweep_2d(client, alice)
    for _ in range(2):  # a job per sampled cell
        job = client.post("/api/v1/jobs/claim", json={"worker_id": "w1"}, headers=worker).json()
        (seed,) = job["seeds"]
        runs = [RunResult.model_validate(cell_run(cell, seed, 1000)) for cell in job["cells"]]
        done = JobComplete(worker_id="w1", runs=runs, verdict=Verdict.robust, reason="agrees")
        assert client.post(f"/api/v1/jobs/{job['job_id']}/complete", headers=worker,
                           json=done.model_dump(mode="json")).status_code == 200
    page = client.get(f"/{ref}")
    (heatmap,) = plot_figures(page.text)[0]["data"]
    checked = [cell for row in heatmap["customdata"] for cell in row if "verification" in cell[1]]
    assert [cell[1] for cell in checked] == [f"0, 1, {seed} (verification)"] * 2
    assert client.get(checked[0][0]).context["record"].kind == "cell"  # a click opens its own
    assert page.text.count(">verification</span>") == 2
