"""The researcher's loop from a terminal (issue 12): run, post, rerun, link and comment
without publishing what was not meant, losing a run, or wondering where things are.
Each test names the friction of the issue it holds to."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TINY_RECIPE
from tests.runner.test_cli import tycho

ROOT = Path(__file__).resolve().parents[2]
CRASHING_RECIPE = '''\
def run(config, log):
    print("warming up")
    log(0, loss=1.0)
    return helper()


def helper():
    raise ValueError("the learning rate must be positive")
'''


@pytest.fixture
def tiny(tmp_path):
    recipe = tmp_path / "tiny.py"
    recipe.write_text(TINY_RECIPE)
    return recipe


def wait_for(path, seconds: float = 120.0) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return path.exists()


# --- 1. run folders never overwrite each other silently ---------------------------------


def test_1_a_changed_config_gets_a_folder_of_its_own(tmp_path, tiny):
    plain = tycho("run", str(tiny), cwd=tmp_path)
    varied = tycho("run", str(tiny), "--set", "steps=40", cwd=tmp_path)
    assert plain.returncode == varied.returncode == 0, plain.stderr + varied.stderr
    runs = tmp_path / "tycho-runs"
    assert sorted(p.name for p in runs.iterdir()) == ["tiny-seed0", "tiny-steps=40-seed0"]
    assert json.loads((runs / "tiny-seed0" / "spec.json").read_text())["config"] == {}
    assert "tycho-runs/tiny-steps=40-seed0" in varied.stdout
    # The recipe changed: the default folder holds another spec, so this run goes beside it.
    tiny.write_text(TINY_RECIPE.replace("total / (step + 1)", "total / (step + 2)"))
    edited = tycho("run", str(tiny), cwd=tmp_path)
    assert edited.returncode == 0, edited.stderr
    assert (runs / "tiny-seed0-2" / "spec.json").exists()
    assert "tiny-seed0 holds a run of another spec" in edited.stderr
    assert "total / (step + 1)" in json.loads(
        (runs / "tiny-seed0" / "spec.json").read_text())["recipe"]["source"]


def test_1_and_2_post_asks_before_publishing_failing_claims_and_keeps_them(
        live_server, tmp_path, tiny):
    server = live_server(TYCHO_VERIFY_SEEDS="0")
    env = {"TYCHO_SERVER": server.url, "TYCHO_TOKEN": server.user_token("alice")}
    ran = tycho("run", str(tiny), "--claim", "final(mean) > 0.99", "--claim",
                "final(mean) < 0.9", cwd=tmp_path)
    assert ran.returncode == 1
    run_dir = str(tmp_path / "tycho-runs" / "tiny-seed0")
    refused = tycho("post", run_dir, "--title", "Running mean", env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "1 of 2 claims fail" in refused.stderr and "--yes" in refused.stderr
    assert httpx.get(f"{server.api}/observations").json()["items"] == []  # nothing published
    posted = tycho("post", run_dir, "--title", "Running mean", "--yes", env=env)
    assert posted.returncode == 0, posted.stderr
    assert f"{server.url}/T-1v1" in posted.stdout
    [author] = httpx.get(f"{server.api}/observations/T-1").json()["runs"]
    assert [(c["claim"], c["holds"]) for c in author["claims"]] == [
        ("final(mean) > 0.99", False), ("final(mean) < 0.9", True)]
    assert author["wall_time_s"] > 0 and author["cpu_time_s"] > 0
    assert author["environment"]["python"]


def test_1_a_changed_builtin_is_never_posted_under_its_canonical_title(live_server, tmp_path):
    server = live_server(TYCHO_VERIFY_SEEDS="0")
    env = {"TYCHO_SERVER": server.url, "TYCHO_TOKEN": server.user_token("alice")}
    ran = tycho("run", "grokking", "--quick", "--set", "weight_decay=0", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    run_dir = str(tmp_path / "tycho-runs" / "grokking-quick-weight_decay=0-seed0")
    refused = tycho("post", run_dir, env=env)
    assert refused.returncode == 1 and "quick run" in refused.stderr, refused.stderr
    title = json.loads((ROOT / "server" / "canonical" / "01-grokking.json").read_text())["title"]
    canonical = tycho("post", run_dir, "--yes", "--title", title, env=env)
    assert canonical.returncode == 2 and "canonical title" in canonical.stderr, canonical.stderr
    posted = tycho("post", run_dir, "--yes", env=env)
    assert posted.returncode == 0, posted.stderr
    record = httpx.get(f"{server.api}/observations/T-1").json()
    assert record["title"] == 'grokking (quick) with weight_decay=0'
    assert record["config"]["weight_decay"] == 0


# --- 6. --quick is plainly a smoke run --------------------------------------------------


def test_6_quick_says_it_is_a_smoke_run_and_exits_0(tmp_path):
    ran = tycho("run", "grokking", "--quick", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "quick run" in ran.stdout and "not judged" in ran.stdout
    assert "final(test_acc) >= 0.99" in ran.stdout  # the claims are shown
    assert (tmp_path / "tycho-runs" / "grokking-quick-seed0" / "metrics.json").exists()
    assert "tycho run" in tycho("run", "--help").stdout and "smoke" in tycho("run", "--help").stdout


# --- 7. claims before the run; one clean traceback; output as it comes -------------------


def test_7_a_claim_that_does_not_parse_stops_before_anything_runs(tmp_path, tiny):
    started = time.monotonic()
    ran = tycho("run", str(tiny), "--claim", "final(mean >= 0.5", cwd=tmp_path)
    assert ran.returncode == 2
    assert "column 12" in ran.stderr and "^" in ran.stderr, ran.stderr
    assert not (tmp_path / "tycho-runs").exists()
    assert time.monotonic() - started < 30


def test_7_a_traceback_shows_the_author_s_file_once_and_prints_stream(tmp_path):
    (tmp_path / "crash.py").write_text(CRASHING_RECIPE)
    ran = tycho("run", "crash.py", cwd=tmp_path)
    assert ran.returncode == 2
    both = ran.stdout + ran.stderr
    assert "warming up" in ran.stdout
    assert both.count('File "crash.py", line 8, in helper') == 1, both
    assert both.count("Traceback") == 1
    assert "_child.py" not in both and "runner/" not in both
    assert "the recipe raised ValueError: the learning rate must be positive" in ran.stderr


# --- 8. did you mean; where is the registry -----------------------------------------------


def test_8_a_typo_gets_a_did_you_mean_and_a_dead_registry_a_hint(tmp_path):
    typo = tycho("run", "grokkin", cwd=tmp_path)
    assert typo.returncode == 2 and "did you mean 'grokking'?" in typo.stderr
    knob = tycho("run", "grokking", "--set", "weight_decy=0", cwd=tmp_path)
    assert knob.returncode == 2 and "did you mean 'weight_decay'?" in knob.stderr, knob.stderr
    down = tycho("show", "T-1", "--server", "http://127.0.0.1:9")
    assert down.returncode == 2 and "tycho serve" in down.stderr, down.stderr


def test_8_link_comment_show_and_search_name_the_web_address(live_server, tmp_path, tiny):
    server = live_server(TYCHO_VERIFY_SEEDS="0")
    env = {"TYCHO_SERVER": server.url, "TYCHO_TOKEN": server.user_token("alice")}
    assert tycho("run", str(tiny), "--claim", "final(mean) < 0.9", cwd=tmp_path).returncode == 0
    for title in ("First", "Second"):
        posted = tycho("post", str(tmp_path / "tycho-runs" / "tiny-seed0"), "--title", title,
                       env=env)
        assert posted.returncode == 0, posted.stderr
    linked = tycho("link", "T-2", "reproduces", "T-1", "--note", "same curve", env=env)
    assert linked.returncode == 0, linked.stderr
    assert f"{server.url}/T-2v1#links" in linked.stdout
    commented = tycho("comment", "T-1", "The mean settles by step 20", "--series", "mean",
                      "--x", "20", env=env)
    assert commented.returncode == 0, commented.stderr
    assert f"{server.url}/T-1v1#comment-" in commented.stdout
    record = httpx.get(f"{server.api}/observations/T-1").json()
    assert record["reproductions"]["reproduced_by"] == 0  # alice reproducing herself
    assert record["links"]["incoming"][0]["relation"] == "reproduces"
    assert record["comments"][0]["series"] == "mean"
    shown = tycho("show", "T-1", env=env)
    assert f"{server.url}/T-1v1" in shown.stdout
    found = tycho("search", "Second", env=env)
    assert f"{server.url}/T-2v1" in found.stdout.replace("\n", "").replace("│", "").replace(" ", "")
    wrong = tycho("search", "--phenomenon", "grokkin", env=env)
    assert wrong.returncode == 2 and "did you mean 'grokking'?" in wrong.stderr
    bad = tycho("link", "T-2", "reproduce", "T-1", env=env)
    assert bad.returncode == 2 and "did you mean 'reproduces'?" in bad.stderr


# --- 5. rerun keeps its runs, shows progress, posts them ------------------------------


def test_5_rerun_keeps_every_seed_shows_progress_when_piped_and_posts_its_runs(
        live_server, tmp_path):
    server = live_server(TYCHO_VERIFY_SEEDS="0")
    alice = {"TYCHO_SERVER": server.url, "TYCHO_TOKEN": server.user_token("alice")}
    slow = TINY_RECIPE.replace("    for step in range(config.get(\"steps\", 50)):",
                               "    import time\n    for step in range(config.get(\"steps\", 50)):\n"
                               "        time.sleep(0.15)\n        log.progress(step, 50)")
    (tmp_path / "slow.py").write_text(slow)
    assert tycho("run", "slow.py", "--claim", "final(mean) < 0.9", cwd=tmp_path).returncode == 0
    posted = tycho("post", str(tmp_path / "tycho-runs" / "slow-seed0"), "--title", "Slow",
                   env=alice)
    assert posted.returncode == 0, posted.stderr
    bob = {"TYCHO_SERVER": server.url, "TYCHO_TOKEN": server.user_token("bob")}
    again = tycho("rerun", "T-1", "--seeds", "2", "--yes", "--out", str(tmp_path / "again"),
                  "--post", env=bob)
    assert again.returncode == 0, again.stdout + again.stderr
    lines = [line for line in again.stderr.splitlines() if line.startswith("[")]
    assert lines and "T-1v1: seed 0" in lines[0], again.stderr  # a plain line every few s
    assert any("/50" in line and "left" in line for line in lines), lines
    for seed in (0, 1, 2):
        kept = tmp_path / "again" / f"seed{seed}"
        assert json.loads((kept / "spec.json").read_text())["seed"] == seed
        assert "mean" in json.loads((kept / "metrics.json").read_text())
        assert wait_for(kept / "plots" / "mean.png")
    assert json.loads((tmp_path / "again" / "verdict.json").read_text())["verdict"] == "robust"
    assert f"kept every seed's metrics and plots in {tmp_path / 'again'}" in again.stdout.replace(
        "\n", "")
    assert f"{server.url}/T-2v1" in again.stdout
    record = httpx.get(f"{server.api}/observations/T-2").json()
    assert [(r["kind"], r["seed"]) for r in record["runs"]] == [
        ("author", 0), ("reproduction", 1), ("reproduction", 2)]
    assert all(r["claims"] and r["claims"][0]["holds"] for r in record["runs"])
    assert record["links"]["outgoing"][0]["relation"] == "reproduces"


# --- issue 11, item 1: the worker's token is never in its command line --------------------


def test_the_worker_token_comes_from_the_environment_or_a_file_never_argv(live_server, tmp_path):
    server = live_server()
    help_text = tycho("worker", "--help").stdout
    assert "--token-file" in help_text and "TYCHO_TOKEN" in help_text
    assert "--token " not in help_text.replace("--token-file", "")
    refused = tycho("worker", "--server", server.url, "--token", "tyc_x", "--once")
    assert refused.returncode == 2 and "No such option" in refused.stderr
    token_file = tmp_path / "worker.token"
    token_file.write_text(server.worker_token() + "\n")
    once = tycho("worker", "--server", server.url, "--token-file", str(token_file), "--once",
                 env={"TYCHO_TOKEN": ""})
    assert once.returncode == 0, once.stderr
    assert "stopped after 0 job(s)" in once.stderr
    none = tycho("worker", "--server", server.url, "--once", env={"TYCHO_TOKEN": ""})
    assert none.returncode == 2 and "TYCHO_TOKEN" in none.stderr
