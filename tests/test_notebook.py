"""Tycho from a notebook (issue 12, frictions 9 and 10): `import tycho` is the public face,
observations are records with curves as arrays, a DataFrame, a plot and an HTML view, and
docs/notebook.ipynb runs against a live `tycho serve` with its local worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from server.testing import LiveServer

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"


def test_10_import_tycho_is_the_public_face_and_is_light():
    code = ("import sys, tycho; names = sorted(tycho.__all__); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'server', 'pandas', 'matplotlib', 'fastapi', 'runner'}); "
            "print(names, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names, heavy = out.stdout.rsplit("] [", 1)
    for name in ("Client", "run", "post", "Observation"):
        assert repr(name) in names
    assert heavy.strip() == "]", heavy  # nothing loaded until it is used
    import tycho
    from runner.client import Client

    assert tycho.Client is Client
    readme = (ROOT / "README.md").read_text()
    assert "import tycho" in readme and "from runner.client import" not in readme


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """`tycho serve` with its local worker (1 fresh seed), no canonical observations, and
    alice's token in the environment, as a notebook's kernel would see it."""
    server = LiveServer("--db", str(tmp_path / "tycho.db"), "--parallel", "2",
                        env={"TYCHO_SEED_CANONICAL": "false", "TYCHO_VERIFY_SEEDS": "1"},
                        log_path=tmp_path / "serve.log")
    server.database_url = f"sqlite:///{tmp_path / 'tycho.db'}"
    monkeypatch.setenv("TYCHO_SERVER", server.url)
    monkeypatch.setenv("TYCHO_TOKEN", server.user_token("alice"))
    yield server
    server.stop(timeout_s=60)


def test_9_an_observation_is_a_record_with_arrays_a_dataframe_a_plot_and_a_view(registry):
    import pandas as pd
    from matplotlib.figure import Figure

    import tycho

    def walk(config, log):
        for step in range(30):
            log(step, position=step * 0.5, speed=0.5)

    run = tycho.run(walk, claims=["final(position) > 10"])
    assert run.ok and not run.failing_claims
    assert isinstance(run.metrics["position"].y, np.ndarray)
    posted = tycho.post(run, title="A steady walk")
    obs = tycho.Client().wait_for_verdict(posted.ref, timeout=300)
    assert obs["verdict"] == obs.verdict == "robust"  # still the mapping it was
    json.dumps(obs)
    curve = obs.metrics["position"]
    assert curve.axis == "step" and curve.y[-1] == 14.5 and curve.x.dtype == np.float64
    df = obs.to_pandas(runs=True)
    assert isinstance(df, pd.DataFrame)
    assert set(df["kind"]) == {"author", "verification"} and len(df) == 30 * 2 * 3
    assert isinstance(obs.plot(), Figure) and obs.plot()._repr_png_()[:4] == b"\x89PNG"
    view = obs._repr_html_()
    assert "robust" in view and "final(position) &gt; 10" in view
    assert "data:image/png;base64," in view and posted.url in view
    [found] = tycho.Client().search("steady")
    assert found["ref"] == "T-1v1" and found.metrics["speed"].y.tolist() == [0.5] * 30


def test_9_to_pandas_says_what_to_install_without_pandas(monkeypatch):
    from runner.observation import frame

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        frame([])


def test_the_notebook_in_docs_runs_against_a_live_registry(registry):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(registry.log_path.parent)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])]
    texts = [o.get("data", {}).get("text/plain", "") for o in outputs]
    assert "'robust'" in texts, texts  # the verdict
    htmls = [o.get("data", {}).get("text/html", "") for o in outputs]
    assert any("<table" in h and "dataframe" in h for h in htmls)  # a DataFrame
    assert any("tycho-observation" in h and "robust" in h for h in htmls)  # the view
    assert any("image/png" in o.get("data", {}) for o in outputs)  # a plot
    assert not [o for o in outputs if o.get("output_type") == "error"]
