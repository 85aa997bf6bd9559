"""Sweep observations for the page tests, stored row by row.

The API does not store sweeps yet (server/observations/store.py refuses them), so
these post an ordinary observation through it and then make it a sweep in the
database: the version's `sweep`, the runs of each cell (`Run.cell`, with their own
series) and, for two knobs, grid series (`MetricSeries.x2`/`axis2`).
"""

from __future__ import annotations

import numpy as np
from sqlmodel import select

from runner.spec import SweepSpec
from server.db import session_for
from server.models import MetricSeries, ObservationVersion, Run
from server.observations.queries import parse_ref
from tests.conftest import observation_body

WEIGHT_DECAYS = [0.0, 0.1, 1.0, 5.0]
FRACTIONS = [0.2, 0.3, 0.5]
SEEDS = [0, 1, 2]


def grok_step(wd: float, frac: float, seed: int) -> float:
    """A made-up but plausible phase diagram: fast where both are large, never at wd=0."""
    if wd == 0:
        return 10_000.0
    return (200 + 3000 / (1 + 4 * wd) / frac) * (1 + 0.15 * (seed - 1))


def _cell_series(seed: int, grok_at: float) -> dict[str, MetricSeries]:
    steps = np.arange(0, 2000, 100, dtype=float)
    test = 1 / (1 + np.exp(-(steps - min(grok_at, 5000)) / 100))
    return {"train_acc": (steps, np.minimum(1, steps / 300 + 0.1)), "test_acc": (steps, test)}


def _add_run(session, version_id: int, cell: dict[str, float], seed: int, grok_at: float,
             kind: str = "author") -> Run:
    run = Run(version_id=version_id, kind=kind, seed=seed, status="ok", cell=cell,
              wall_time_s=12.5, cpu_time_s=11.0, peak_memory_mb=150.0, log_tail="done\n",
              claim_results=[])
    session.add(run)
    session.flush()
    for name, (x, y) in _cell_series(seed, grok_at).items():
        session.add(MetricSeries(run_id=run.id, name=name, axis="step", n_points=x.size,
                                 x=MetricSeries.pack(x), y=MetricSeries.pack(y)))
    return run


def _version(session, ref: str) -> ObservationVersion:
    number, version = parse_ref(ref)
    return session.exec(select(ObservationVersion).where(
        ObservationVersion.observation_id == number,
        ObservationVersion.version == (version or 1))).one()


def post_sweep_1d(client, headers, database_url: str, **overrides) -> str:
    """A sweep of `grok_step` over weight decay, three seeds: its mean, min and max."""
    per_seed = np.array([[grok_step(wd, 0.3, s) for s in SEEDS] for wd in WEIGHT_DECAYS])
    metrics = {name: {"x": WEIGHT_DECAYS, "y": values.tolist(), "axis": "weight_decay"}
               for name, values in (("grok_step", per_seed.mean(1)),
                                    ("grok_step_min", per_seed.min(1)),
                                    ("grok_step_max", per_seed.max(1)))}
    body = observation_body(title="Grokking time against weight decay", metrics=metrics,
                            config={"train_fraction": 0.3, "lr": 0.001},
                            claims=["max(grok_step) > 1000"], **overrides)
    answer = client.post("/api/v1/observations", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    ref = answer.json()["ref"]
    spec = SweepSpec(grid={"weight_decay": WEIGHT_DECAYS}, seeds=SEEDS,
                     measures={"grok_step": "first_step(test_acc >= 0.95)"})
    with session_for(database_url) as session:
        version = _version(session, ref)
        version.sweep = spec.model_dump(mode="json")
        session.add(version)
        for cell in spec.cells():
            for seed in SEEDS:
                _add_run(session, version.id, cell, seed, grok_step(cell["weight_decay"], 0.3,
                                                                    seed))
    return ref


def post_sweep_2d(client, headers, database_url: str) -> str:
    """A phase diagram of `grok_step` over weight decay x train fraction, two seeds."""
    seeds = SEEDS[:2]
    body = observation_body(title="Where grokking happens: weight decay x train fraction",
                            metrics={"placeholder": {"x": [0], "y": [0]}}, claims=[],
                            config={"lr": 0.001, "p": 97})
    answer = client.post("/api/v1/observations", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    ref = answer.json()["ref"]
    spec = SweepSpec(grid={"weight_decay": WEIGHT_DECAYS, "train_fraction": FRACTIONS},
                     seeds=seeds, measures={"grok_step": "first_step(test_acc >= 0.95)"})
    cells = spec.cells()  # ordered by x, then x2: the order of a grid series
    x = [c["weight_decay"] for c in cells]
    x2 = [c["train_fraction"] for c in cells]
    per_seed = np.array([[grok_step(c["weight_decay"], c["train_fraction"], s) for s in seeds]
                         for c in cells])
    with session_for(database_url) as session:
        version = _version(session, ref)
        version.sweep = spec.model_dump(mode="json")
        session.add(version)
        author = session.exec(select(Run).where(Run.version_id == version.id)).one()
        for row in session.exec(select(MetricSeries).where(MetricSeries.run_id == author.id)):
            session.delete(row)
        session.flush()
        for name, values in (("grok_step", per_seed.mean(1)), ("grok_step_min", per_seed.min(1)),
                             ("grok_step_max", per_seed.max(1))):
            session.add(MetricSeries(run_id=author.id, name=name, axis="weight_decay",
                                     axis2="train_fraction", n_points=len(x),
                                     x=MetricSeries.pack(x), x2=MetricSeries.pack(x2),
                                     y=MetricSeries.pack(values)))
        for cell in cells:
            for seed in seeds:
                _add_run(session, version.id, cell, seed,
                         grok_step(cell["weight_decay"], cell["train_fraction"], seed))
    return ref
