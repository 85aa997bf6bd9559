"""Sweep observations for the page tests, posted as `tycho post` sends a sweep folder: the
measures against the knobs as `metrics`, and the run of every cell and seed in `runs`."""

from __future__ import annotations

import numpy as np

from runner.spec import SweepSpec
from tests.conftest import observation_body

WEIGHT_DECAYS = [0.0, 0.1, 1.0, 5.0]
FRACTIONS = [0.2, 0.3, 0.5]
SEEDS = [0, 1, 2]


def grok_step(wd: float, frac: float, seed: int) -> float:
    """A made-up but plausible phase diagram: fast where both are large, never at wd=0."""
    if wd == 0:
        return 10_000.0
    return (200 + 3000 / (1 + 4 * wd) / frac) * (1 + 0.15 * (seed - 1))


def cell_run(cell: dict[str, float], seed: int, grok_at: float) -> dict:
    """The run of one cell and seed, with its own curves."""
    steps = np.arange(0, 2000, 100, dtype=float)
    test = 1 / (1 + np.exp(-(steps - min(grok_at, 5000)) / 100))
    return {"status": "ok", "seed": seed, "cell": cell, "wall_time_s": 12.5, "cpu_time_s": 11.0,
            "peak_memory_mb": 150.0, "log_tail": "done\n",
            "metrics": {"train_acc": {"x": steps.tolist(),
                                      "y": np.minimum(1, steps / 300 + 0.1).tolist()},
                        "test_acc": {"x": steps.tolist(), "y": test.tolist()}}}


def _post(client, headers, body: dict) -> str:
    answer = client.post("/api/v1/observations", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()["ref"]


def post_sweep_1d(client, headers, **overrides) -> str:
    """A sweep of `grok_step` over weight decay, three seeds: its mean, min and max."""
    spec = SweepSpec(grid={"weight_decay": WEIGHT_DECAYS}, seeds=SEEDS,
                     measures={"grok_step": "first_step(test_acc >= 0.95)"})
    per_seed = np.array([[grok_step(wd, 0.3, s) for s in SEEDS] for wd in WEIGHT_DECAYS])
    metrics = {name: {"x": WEIGHT_DECAYS, "y": values.tolist(), "axis": "weight_decay"}
               for name, values in (("grok_step", per_seed.mean(1)),
                                    ("grok_step_min", per_seed.min(1)),
                                    ("grok_step_max", per_seed.max(1)))}
    runs = [cell_run(cell, seed, grok_step(cell["weight_decay"], 0.3, seed))
            for cell in spec.cells() for seed in SEEDS]
    return _post(client, headers, observation_body(
        title="Grokking time against weight decay", metrics=metrics,
        config={"train_fraction": 0.3, "lr": 0.001}, claims=["max(grok_step) > 1000"],
        sweep=spec.model_dump(mode="json"), runs=[{"status": "ok", "seed": 0}] + runs,
        **overrides))


def post_sweep_2d(client, headers) -> str:
    """A phase diagram of `grok_step` over weight decay x train fraction, two seeds."""
    seeds = SEEDS[:2]
    spec = SweepSpec(grid={"weight_decay": WEIGHT_DECAYS, "train_fraction": FRACTIONS},
                     seeds=seeds, measures={"grok_step": "first_step(test_acc >= 0.95)"})
    cells = spec.cells()  # ordered by x, then x2: the order of a grid series
    per_seed = np.array([[grok_step(c["weight_decay"], c["train_fraction"], s) for s in seeds]
                         for c in cells])
    grid = {"x": [c["weight_decay"] for c in cells], "axis": "weight_decay",
            "x2": [c["train_fraction"] for c in cells], "axis2": "train_fraction"}
    metrics = {name: {**grid, "y": values.tolist()}
               for name, values in (("grok_step", per_seed.mean(1)),
                                    ("grok_step_min", per_seed.min(1)),
                                    ("grok_step_max", per_seed.max(1)))}
    runs = [cell_run(cell, seed, grok_step(cell["weight_decay"], cell["train_fraction"], seed))
            for cell in cells for seed in seeds]
    return _post(client, headers, observation_body(
        title="Where grokking happens: weight decay x train fraction", metrics=metrics,
        config={"lr": 0.001, "p": 97}, claims=[], sweep=spec.model_dump(mode="json"),
        runs=[{"status": "ok", "seed": 0}] + runs))
