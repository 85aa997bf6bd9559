"""A real Chromium against a real `tycho serve`: browse, plot, sign in, comment, cite.

Needs Chromium (Debian: `apt-get install chromium`; set TYCHO_CHROMIUM if it is
not /usr/bin/chromium). Leaves a full-page screenshot in artifacts/observation.png.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import numpy as np
import pytest

from runner.spec import ClaimResult, JobComplete, RunResult, Verdict
from server.testing import LiveServer
from server.users.accounts import create_user_with_token, issue_token_for

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("TYCHO_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "artifacts" / "observation.png"
SERVER_START_TIMEOUT_S = 60
# Plotly draws asynchronously; generous, since CI machines are slow.
DRAW_TIMEOUT_MS = 20_000
CLAIMS = ["final(test_acc) >= 0.95",
          "first_step(test_acc >= 0.95) >= 2 * first_step(train_acc >= 0.99)",
          "max(grad_norm) > 5"]
TITLE = "Grokking on modular addition: the delay scales as 1/weight decay"
NOTES = r"""Test accuracy jumps long after train accuracy saturates: the classic
*grokking* delay, here about **4×** the memorisation time.

The delay shrinks with weight decay $\lambda$, roughly as $t_{\text{grok}} \propto 1/\lambda$,
consistent with the norm argument

$$\|W_t\|^2 \approx \|W_0\|^2 e^{-2\eta\lambda t}.$$

Gradient-norm spikes (see `grad_norm`, 100,000 steps) precede the jump.
"""


def grokking_run(seed: int, grok_at: float) -> dict[str, dict]:
    """Synthetic but realistic curves: memorise at ~300 steps, generalise at `grok_at`."""
    rng = np.random.default_rng(seed)
    steps = np.arange(0, 6000, 10, dtype=float)
    train_acc = 1 / (1 + np.exp(-(steps - 300) / 40))
    test_acc = 0.01 + 0.99 / (1 + np.exp(-(steps - grok_at) / 150))

    def noise(scale: float) -> np.ndarray:
        return scale * rng.standard_normal(steps.size)

    fine = np.arange(100_000, dtype=float)
    grad = 1 + 0.2 * np.abs(rng.standard_normal(fine.size))
    grad[[21_000 + seed * 7, 58_000 + seed * 11]] = [9.5, 7.0]  # two one-step spikes
    series = {
        "train_acc": train_acc,
        "test_acc": np.clip(test_acc + noise(0.004), 0, 1),
        "train_loss": 4.6 * np.exp(-steps / 250) + 1e-3 + np.abs(noise(1e-4)),
        "test_loss": 4.6 / (1 + np.exp((steps - grok_at) / 300)) + 0.01 + np.abs(noise(1e-3)),
        "weight_norm": 40 * np.exp(-steps / 4000) + 8 + noise(0.05),
    }
    metrics = {name: {"x": steps.tolist(), "y": values.tolist()} for name, values in series.items()}
    metrics["grad_norm"] = {"x": fine.tolist(), "y": grad.tolist()}
    return metrics


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A `tycho serve --no-worker` on a fresh SQLite file, with one verified observation."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set TYCHO_CHROMIUM")
    workdir = tmp_path_factory.mktemp("browser")
    db = workdir / "tycho.db"
    with LiveServer("--no-worker", "--db", str(db), log_path=workdir / "serve.log", cwd=ROOT,
                    start_timeout_s=SERVER_START_TIMEOUT_S) as server:
        yield (server.url, *_publish_verified_observation(server.url, f"sqlite:///{db}"),
               f"sqlite:///{db}")


def _publish_verified_observation(base: str, database_url: str) -> tuple[str, str, int]:
    """Post an observation as alice and verify it as a worker; (token, its id, runs).

    `tycho serve` may have seeded canonical observations (and queued their jobs), so
    nothing here assumes the observation is T-1 or that its job is the first."""
    api = httpx.Client(base_url=f"{base}/api/v1", timeout=60)
    created = api.post("/users", json={"handle": "alice", "display_name": "Alice Liddell"})
    token = created.json()["token"]
    body = {"title": TITLE,
            "phenomena": ["grokking"], "tags": ["mlp", "weight-decay"], "notes": NOTES,
            "recipe": {"builtin": "grokking"}, "config": {"weight_decay": 1.0, "lr": 0.001,
                                                          "p": 97, "train_fraction": 0.3},
            "seed": 0, "metrics": grokking_run(0, 1200), "claims": CLAIMS,
            "environment": {"python": "3.11.7", "torch": "2.4.1", "numpy": "2.1.0",
                            "platform": "Linux-6.1-x86_64", "cpu": "x86_64", "threads": 1}}
    answer = api.post("/observations", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    ref = answer.json()["id"]
    create_user_with_token(database_url, handle="volunteer")
    worker = {"Authorization": f"Bearer {issue_token_for(database_url, handle='volunteer', scope='worker')}"}
    held = []  # the seeded observations' jobs, claimed on the way to ours
    while not (job := api.post("/jobs/claim", json={"worker_id": "w1"}, headers=worker).json())[
            "observation"].startswith(f"{ref}v"):
        held.append(job["job_id"])
    runs = []
    for seed, grok_at in zip(job["seeds"], (1200, 1100, 1500, 900, 1300)):
        holds = [True, seed != job["seeds"][-1], True]
        runs.append(RunResult(status="ok", seed=seed, metrics=grokking_run(seed, grok_at),
                              wall_time_s=41.5, cpu_time_s=40.9, peak_memory_mb=312,
                              claims=[ClaimResult(claim=c, holds=h, detail=f"{c}: {'held' if h else 'failed'}")
                                      for c, h in zip(CLAIMS, holds)]))
    done = JobComplete(worker_id="w1", runs=runs, verdict=Verdict.fragile,
                       reason="claim 2 holds on 75% of fresh seeds",
                       pass_rates={CLAIMS[0]: 1.0, CLAIMS[1]: 0.75, CLAIMS[2]: 1.0})
    answer = api.post(f"/jobs/{job['job_id']}/complete", json=done.model_dump(mode="json"),
                      headers=worker)
    assert answer.status_code == 200, answer.text
    for job_id in held:
        api.post(f"/jobs/{job_id}/release", json={"worker_id": "w1"}, headers=worker)
    return token, ref, 1 + len(runs)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set TYCHO_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def test_a_researcher_browses_plots_signs_in_comments_and_cites(registry, browser):
    base, token, ref, runs, _ = registry
    traces_drawn = (
        f"document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length === {6 * runs}")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    elsewhere: list[str] = []
    # The pages must work with no internet: any request off this server is a bug.
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
               else (elsewhere.append(route.request.url), route.abort()))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Home -> phenomenon -> observation, by clicking.
    page.goto("/")
    page.click("#phenomena a[href='/phenomena/grokking']")
    page.wait_for_url(f"{base}/phenomena/grokking")
    page.click(f"table.observations a.title:has-text('{TITLE}')")
    page.wait_for_url(f"{base}/{ref}")

    # Six plots, each with the author's curve and every re-run, really drawn as SVG paths.
    page.wait_for_function(traces_drawn, timeout=DRAW_TIMEOUT_MS)
    assert page.locator(".js-plotly-plot").count() == 6
    author_path = page.locator("#plot-1 .scatterlayer .trace").last.locator("path.js-line")
    assert author_path.get_attribute("d").count("L") > 100  # 600 points, one line each
    assert page.locator(".math").first.evaluate("el => el.querySelector('math') !== null")
    assert "Downsampled to" in page.inner_text("#plot-5 >> xpath=..")
    assert page.locator(".verdict-line .verdict").inner_text().lower() == "fragile"
    assert page.locator(".claims-table tbody tr").count() == 3

    # The log-scale toggle changes the axis type and the drawn ticks.
    ticks_before = page.locator("#plot-2 .ytick text").all_inner_texts()
    page.click("button[data-plot='plot-2'][data-log-axis='y']")
    page.wait_for_function("document.getElementById('plot-2').layout.yaxis.type === 'log'")
    assert page.get_attribute("button[data-plot='plot-2'][data-log-axis='y']", "aria-pressed") == "true"
    page.wait_for_function(
        "before => JSON.stringify([...document.querySelectorAll('#plot-2 .ytick text')]"
        ".map(t => t.textContent)) !== JSON.stringify(before)", arg=ticks_before)

    # Sign in with the token, come back, comment.
    page.click("header.site >> text=Sign in")
    page.fill("#token", token)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(f"{base}/{ref}")
    assert page.inner_text("header.site .me") == "@alice"
    page.fill("section.comments > form.comment-form textarea", "Does the delay depend on $p$?")
    page.click("section.comments > form.comment-form button[type=submit]")
    page.wait_for_url(f"{base}/{ref}v1#comment-*")
    comment = page.locator(page.url[page.url.index("#"):])
    assert "Does the delay depend on" in comment.inner_text()
    assert comment.locator("math").count() == 1

    # The cite box: BibTeX with a working copy button.
    bibtex = page.locator(".cite-entry[data-format='bibtex']")
    page.wait_for_function(
        "document.querySelector(\".cite-entry[data-format='bibtex'] .cite-text\").textContent"
        " !== 'Loading…'")
    assert not bibtex.evaluate("el => el.classList.contains('cite-failed')"), \
        bibtex.locator(".cite-text").inner_text()
    entry = bibtex.locator(".cite-text").inner_text()
    assert entry.lstrip().startswith("@") and ref in entry
    bibtex.locator(".copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == entry
    assert page.locator(".cite-entry[data-format='cff'] .cite-text").inner_text().startswith("cff-version")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.goto(f"/{ref}")
    page.wait_for_function(traces_drawn, timeout=DRAW_TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert elsewhere == [] and errors == []
    context.close()


def test_a_running_verification_shows_each_seeds_progress_and_the_verdict_when_done(
        registry, browser):
    base, token, _, _, database_url = registry
    api = httpx.Client(base_url=f"{base}/api/v1", timeout=60)
    body = {"title": "Grokking at weight decay 2", "phenomena": ["grokking"],
            "recipe": {"builtin": "grokking"}, "config": {"weight_decay": 2.0}, "seed": 0,
            "metrics": grokking_run(3, 900), "claims": CLAIMS[:1]}
    ref = api.post("/observations", json=body,
                   headers={"Authorization": f"Bearer {token}"}).json()["id"]
    worker = {"Authorization": f"Bearer {issue_token_for(database_url, handle='volunteer', scope='worker')}"}
    job = api.post("/jobs/claim", json={"worker_id": "w2"}, headers=worker).json()
    assert job["observation"] == f"{ref}v1"  # a person's post goes before background work

    def report(done: float) -> None:
        seeds = [{"seed": seed, "state": "running", "done": done, "total": 6000,
                  "elapsed_s": 30.0, "eta_s": 30.0 * (6000 - done) / done} for seed in job["seeds"]]
        answer = api.post(f"/jobs/{job['job_id']}/heartbeat", headers=worker, json={
            "worker_id": "w2", "progress": {"seeds": seeds, "eta_s": 60.0}})
        assert answer.status_code == 200, answer.text

    report(1500)
    page = browser.new_page()
    page.goto(f"{base}/{ref}")
    panel = page.locator("#verification-progress")
    original = panel.locator("li").first
    assert "seed 0 (original)" in original.inner_text()
    assert "step 1500 / 6000" in original.inner_text()
    assert panel.locator("progress").first.get_attribute("value") == "1500"
    report(4500)  # the page fetches the panel again by itself, without a reload
    page.wait_for_function(
        "document.querySelector('#verification-progress li').innerText.includes('4500')",
        timeout=DRAW_TIMEOUT_MS)
    runs = [RunResult(status="ok", seed=seed, metrics=grokking_run(seed, 900),
                      claims=[ClaimResult(claim=CLAIMS[0], holds=True, detail="held")])
            for seed in job["seeds"]]
    done = JobComplete(worker_id="w2", runs=runs, verdict=Verdict.robust, reason="all hold",
                       pass_rates={CLAIMS[0]: 1.0})
    assert api.post(f"/jobs/{job['job_id']}/complete", json=done.model_dump(mode="json"),
                    headers=worker).status_code == 200
    page.wait_for_selector(".verdict-line .verdict-robust", timeout=DRAW_TIMEOUT_MS)
    assert page.locator("#verification-progress").count() == 0
    page.close()
