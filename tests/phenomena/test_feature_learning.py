"""The feature-learning recipe: its neuron classification, its linear yardsticks, what a run logs."""

from __future__ import annotations

import pytest
import torch

import phenomena
from runner.claims import validate_claim
from runner.recorder import Recorder

FEATURE_LEARNING = phenomena.get("feature-learning")
module = FEATURE_LEARNING.module

COUNTS = {f"{kind}_l{layer}" for kind in ("nonlinear", "dead", "always_on") for layer in (1, 2)}
SERIES = COUNTS | {
    "train_loss",
    "test_loss",
    "linreg_loss",
    "linreg_test_loss",
    "probe_r2_l1",
    "probe_r2_l2",
}


def run_quick(**overrides) -> dict:
    recorder = Recorder()
    config = FEATURE_LEARNING.make_config({**FEATURE_LEARNING.quick, **overrides})
    FEATURE_LEARNING.run(config, recorder)
    return recorder.series()


@pytest.fixture(scope="module")
def quick_series():
    return run_quick()


def test_neurons_are_dead_always_on_or_nonlinear_by_their_sign_pattern():
    # Rows are inputs, columns are neurons' pre-activations.
    pre_activation = torch.tensor(
        [
            # dead, dead (0 does not pass ReLU), always on, nonlinear, nonlinear
            [-1.0, 0.0, 0.5, 2.0, -3.0],
            [-2.0, 0.0, 0.1, -1.0, -1.0],
            [-0.5, 0.0, 3.0, 0.0, 0.2],
        ]
    )
    assert module.classify_neurons(pre_activation) == {"dead": 2, "always_on": 1, "nonlinear": 2}


def test_the_linear_fit_of_exactly_affine_data_has_no_error():
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(10, 1, generator=generator)
    x, x_test = torch.randn(200, 10, generator=generator), torch.randn(50, 10, generator=generator)
    coefficients = module.fit_affine(x, x @ weights + 3.0)
    assert module.affine_error(x, x @ weights + 3.0, coefficients) < 1e-10
    # ... and it generalises to fresh points of the same affine map.
    assert module.affine_error(x_test, x_test @ weights + 3.0, coefficients) < 1e-10


def test_the_linear_fit_cannot_explain_the_sine_target():
    # sin^2(10 x) oscillates far faster than Gaussian inputs are spaced: the
    # best affine fit is barely better than the mean (variance 10/8 per the docstring).
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(500, 10, generator=generator)
    y = module.target(x, frequency=10.0)
    train_error = module.affine_error(x, y, module.fit_affine(x, y))
    variance = float(y.double().var(unbiased=False))
    assert 0.85 * variance < train_error < variance
    assert variance == pytest.approx(10 / 8, rel=0.15)


def test_dead_columns_do_not_break_the_linear_probe():
    generator = torch.Generator().manual_seed(0)
    features = torch.relu(torch.randn(100, 8, generator=generator))
    features[:, :3] = 0.0  # dead neurons
    y = features[:, 5:6] * 2.0 - 1.0
    assert module.affine_error(features, y, module.fit_affine(features, y)) < 1e-10


def test_quick_run_logs_the_documented_series(quick_series):
    assert set(quick_series) == SERIES
    for name in SERIES:
        assert name in module.__doc__, f"the docstring does not explain {name}"


def test_neuron_counts_add_up_to_the_width(quick_series):
    width = FEATURE_LEARNING.defaults()["hidden"]
    for layer in (1, 2):
        totals = {
            sum(quick_series[f"{kind}_l{layer}"].y[i] for kind in ("nonlinear", "dead", "always_on"))
            for i in range(len(quick_series[f"nonlinear_l{layer}"].y))
        }
        assert totals == {width}


def test_the_linear_yardsticks_are_constant_and_probes_are_fractions(quick_series):
    for name in ("linreg_loss", "linreg_test_loss"):
        series = quick_series[name]
        assert series.x == [0, FEATURE_LEARNING.quick["steps"]]
        assert series.y[0] == series.y[1] > 0
    for name in ("probe_r2_l1", "probe_r2_l2"):
        assert all(0.0 <= r2 <= 1.0 for r2 in quick_series[name].y)


def test_training_moves_the_loss_below_its_initial_value(quick_series):
    losses = quick_series["train_loss"].y
    assert losses[-1] < 0.2 * losses[0]  # the first phase: fitting the mean of y


def test_width_and_cadence_are_knobs():
    series = run_quick(hidden=20, steps=12, log_every=4, probe_every=6)
    assert series["nonlinear_l2"].x == [0, 4, 8, 12]
    assert series["probe_r2_l1"].x == [0, 6, 12]
    assert {series["nonlinear_l1"].y[0] + series["dead_l1"].y[0] + series["always_on_l1"].y[0]} == {20}


def test_every_claim_names_only_logged_series():
    for claim in FEATURE_LEARNING.claims:
        validate_claim(claim, SERIES)
