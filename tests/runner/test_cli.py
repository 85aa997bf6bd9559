"""`tycho run`, `tycho post` and `tycho rerun` end to end, over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import TINY_RECIPE


def tycho(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tycho.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200", **(env or {})},
                          cwd=cwd, timeout=300)


def test_run_twice_gives_bitwise_identical_metrics_and_records_the_environment(tmp_path):
    recipe = tmp_path / "tiny.py"
    recipe.write_text(TINY_RECIPE)
    outputs = []
    for name in ("a", "b"):
        result = tycho("run", f"{recipe}:run", "--seed", "3", "--set", "steps=40",
                       "--claim", "final(mean) between 0.3 and 0.7", "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append((tmp_path / name / "metrics.json").read_bytes())
    assert outputs[0] == outputs[1]
    spec = json.loads((tmp_path / "a" / "spec.json").read_text())
    assert spec["environment"]["python"] and spec["environment"]["threads"] == 1
    assert spec["recipe"]["entrypoint"] == "run" and spec["config"] == {"steps": 40}
    assert (tmp_path / "a" / "plots" / "mean.png").stat().st_size > 1000


def test_run_exits_1_when_a_claim_fails(tmp_path):
    recipe = tmp_path / "tiny.py"
    recipe.write_text(TINY_RECIPE)
    result = tycho("run", str(recipe), "--claim", "final(mean) > 0.99", "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "final(mean)" in result.stdout and "needed > 0.99" in result.stdout


def test_run_explains_a_bad_target_and_a_bad_config_key(tmp_path):
    missing = tycho("run", "no-such-phenomenon")
    assert missing.returncode == 2 and "built-in phenomenon" in missing.stderr
    bad_key = tycho("run", "double-descent", "--set", "not_a_knob=1", "--out", str(tmp_path / "o"))
    assert bad_key.returncode == 2 and "not_a_knob" in bad_key.stderr


def run_and_post_the_tiny_recipe(tmp_path, env: dict, *options: str) -> str:
    """`tycho run` the tiny recipe (seed 5, a claim that holds), then `tycho post` it as
    "Running mean settles"; returns the id it was given."""
    recipe = tmp_path / "tiny.py"
    recipe.write_text(TINY_RECIPE)
    ran = tycho("run", str(recipe), "--seed", "5", "--claim", "final(mean) between 0.3 and 0.7",
                "--out", str(tmp_path / "run"))
    assert ran.returncode == 0, ran.stderr
    posted = tycho("post", str(tmp_path / "run"), "--title", "Running mean settles", *options,
                   env=env)
    assert posted.returncode == 0, posted.stderr
    return posted.stdout.strip().splitlines()[-1]


def test_post_then_rerun_agree_exactly(live_server, tmp_path):
    server = live_server(TYCHO_VERIFY_SEEDS="0")
    env = {"TYCHO_SERVER": server.url, "TYCHO_TOKEN": server.user_token("alice")}
    ref = run_and_post_the_tiny_recipe(tmp_path, env, "--tag", "toy")
    assert ref == "T-1"

    rerun_env = {"TYCHO_SERVER": server.url, "TYCHO_TOKEN": server.user_token("bob")}
    again = tycho("rerun", ref, "--yes", "--post", env=rerun_env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "sha256" in again.stdout  # submitted source is shown before it runs
    rows = [line for line in again.stdout.splitlines() if line.startswith("│ total") or
            line.startswith("│ mean")]
    assert len(rows) == 2 and all("│ yes" in row for row in rows), again.stdout
    assert "posted T-2, linked reproduces T-1" in again.stdout

    import httpx

    record = httpx.get(f"{server.url}/api/v1/observations/T-1").json()
    assert record["reproductions"] == {"reproduced_by": 1, "failed_by": 0}
    original = httpx.get(f"{server.url}/api/v1/observations/T-1/metrics").json()
    reproduction = httpx.get(f"{server.url}/api/v1/observations/T-2/metrics").json()
    assert original == reproduction
