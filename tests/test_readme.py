"""The README's "Using it" section, run top to bottom as a script against `tycho serve`
(issue 12): every command works, in a fresh folder with a fresh registry, and it
publishes what it says and nothing else (not the `weight_decay=0` run).

Slow: it runs grokking at full size eight times (two runs, a rerun of 1+4 seeds and
one of 1 seed). CI runs the slow tests too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from server.testing import LiveServer

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def using_it() -> list[tuple[str, str]]:
    """The fenced blocks of the README's "Using it" section, in order: (language, text)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Using it", 1)[1].split("\n## ", 1)[0]
    return FENCE.findall(section)


def test_the_section_is_a_script_with_its_files():
    blocks = using_it()
    assert [language for language, _ in blocks] == ["python", "bash", "python"]
    assert blocks[0][1].startswith("# my_toy.py\n")
    assert "import tycho" in blocks[2][1]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_readme_runs_top_to_bottom_and_publishes_only_what_it_says(tmp_path):
    blocks = using_it()
    work = tmp_path / "work"
    work.mkdir()
    data = tmp_path / "data"
    env = {**os.environ, "TYCHO_DATA_DIR": str(data), "COLUMNS": "200",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in ("TYCHO_TOKEN", "TYCHO_DATABASE_URL", "TYCHO_SERVER", "TYCHO_PUBLIC_URL"):
        env.pop(name, None)
    # `tycho serve` as the README's first section starts it (its worker left out: the
    # canonical observations' verification is not what this test is about).
    server = LiveServer("--no-worker", env={"TYCHO_DATA_DIR": str(data)}, cwd=ROOT,
                        log_path=tmp_path / "serve.log", start_timeout_s=120)
    env["TYCHO_SERVER"] = server.url
    try:
        for language, text in blocks:
            if language == "python" and text.startswith("# "):  # a file the script uses
                (work / text.split("\n", 1)[0][2:].strip()).write_text(text)
                continue
            # Every command runs; each that exits non-zero is noted. Only the knob turned
            # too far may: its claims fail (exit 1), as the README says.
            traced = "set -Euo pipefail\ntrap 'echo \"FAILED $? $BASH_COMMAND\" >&2' ERR\n"
            command = (["bash", "-c", traced + text] if language == "bash"
                       else [sys.executable, "-c", text])
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                                  timeout=3600)
            (tmp_path / f"{language}.out").write_text(done.stdout + done.stderr)
            assert done.returncode == 0, (done.stdout[-5000:], done.stderr[-5000:])
            failed = [line for line in done.stderr.splitlines() if line.startswith("FAILED ")]
            assert [line.split()[:4] for line in failed] in (
                [], [["FAILED", "1", "tycho", "run"]]), failed
            assert all("weight_decay=0" in line for line in failed), failed
        items = httpx.get(f"{server.api}/observations", params={"limit": 50}).json()["items"]
        records = {item["ref"]: httpx.get(f"{server.api}/observations/{item['ref']}").json()
                   for item in items}
    finally:
        server.stop(timeout_s=60)
    # The canonical observations, alice's run and her reproduction after them (the numbers the
    # README names): the weight_decay=0 run and the quick run were not published.
    canonical = len(list((ROOT / "server" / "canonical").glob("*.json")))
    assert f"posts T-{canonical + 1} (after the {canonical} built-ins)" in (ROOT / "README.md").read_text()
    assert sorted(records, key=lambda ref: int(ref[2:-2])) == [
        f"T-{n}v1" for n in range(1, canonical + 3)]
    assert [r["author"]["handle"] for r in records.values()].count("alice") == 2
    mine, reproduction = records[f"T-{canonical + 1}v1"], records[f"T-{canonical + 2}v1"]
    assert mine["author"]["handle"] == reproduction["author"]["handle"] == "alice"
    assert mine["config"] == {} and mine["title"] == records["T-1v1"]["title"]
    assert all(c["holds"] for c in mine["runs"][0]["claims"])  # as measured, with its claims
    assert reproduction["tags"] == ["reproduction"] and reproduction["config"] == {}
    assert not any("weight_decay" in r["config"] for r in records.values())
    assert (work / "tycho-runs" / "grokking-weight_decay=0-seed0" / "spec.json").exists()
    assert (work / "tycho-runs" / "T-1v1-rerun" / "seed4" / "metrics.json").exists()
    assert (work / "T-1.png").stat().st_size > 1000
