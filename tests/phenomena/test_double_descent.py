"""The double-descent recipe: its fits, its width grid, and what a run logs."""

from __future__ import annotations

import pytest
import torch

import phenomena
from runner.claims import validate_claim
from runner.recorder import Recorder

DOUBLE_DESCENT = phenomena.get("double-descent")
module = DOUBLE_DESCENT.module

SERIES = {
    "test_error",
    "train_error",
    "coef_norm",
    "ridge_test_error",
    "ridge_train_error",
    "ridge_coef_norm",
    "n_train",
    "null_error",
}


def random_features(n_points: int, n_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A ReLU feature matrix and random labels, as the recipe builds them."""
    generator = torch.Generator().manual_seed(0)
    x = module.sphere(n_points, 5, generator)
    weights = torch.randn(5, n_features, generator=generator, dtype=torch.float64)
    y = torch.randn(n_points, generator=generator, dtype=torch.float64)
    return module.relu_features(x, weights), y


@pytest.fixture(scope="module")
def quick_series():
    recorder = Recorder()
    DOUBLE_DESCENT.run(DOUBLE_DESCENT.make_config(DOUBLE_DESCENT.quick), recorder)
    return recorder.series()


def test_min_norm_fit_interpolates_beyond_the_threshold():
    phi, y = random_features(n_points=30, n_features=60)
    ridgeless, _ = module.fit(phi, y, ridge=1e-3)
    assert torch.allclose(phi @ ridgeless, y, atol=1e-9)
    # Of all interpolating weights it has the least norm: it is pinv(phi) y.
    assert torch.allclose(ridgeless, torch.linalg.pinv(phi) @ y, atol=1e-9)


def test_below_the_threshold_the_ridgeless_fit_is_ordinary_least_squares():
    phi, y = random_features(n_points=60, n_features=20)
    ridgeless, _ = module.fit(phi, y, ridge=1e-3)
    residual = phi @ ridgeless - y
    assert residual.norm() > 0.1 * y.norm()  # too few features to fit the labels
    # The residual is orthogonal to every feature (the normal equations).
    assert torch.allclose(phi.T @ residual, torch.zeros(20, dtype=torch.float64), atol=1e-9)


def test_ridge_interpolates_between_ridgeless_and_zero():
    phi, y = random_features(n_points=30, n_features=60)
    ridgeless, nearly_ridgeless = module.fit(phi, y, ridge=1e-14)
    assert torch.allclose(nearly_ridgeless, ridgeless, atol=1e-6)
    _, heavily_ridged = module.fit(phi, y, ridge=1e9)
    assert (phi @ heavily_ridged).abs().max() < 1e-6


def test_width_grid_straddles_the_threshold_and_always_contains_it():
    config = DOUBLE_DESCENT.make_config({"n_train": 100})
    widths = module.width_grid(config)
    assert widths == sorted(set(widths))
    assert widths[0] == 10 and widths[-1] == 1000
    assert 100 in widths
    odd = DOUBLE_DESCENT.make_config({"n_train": 37, "n_widths": 6})
    assert 37 in module.width_grid(odd)


def test_quick_run_logs_the_documented_series_against_n_features(quick_series):
    assert set(quick_series) == SERIES
    widths = module.width_grid(DOUBLE_DESCENT.make_config(DOUBLE_DESCENT.quick))
    for name, series in quick_series.items():
        assert series.axis == "n_features", name
        assert series.x == [float(width) for width in widths], name
        assert all(value is not None for value in series.y), name
    assert set(quick_series["n_train"].y) == {float(DOUBLE_DESCENT.quick["n_train"])}


def test_quick_run_interpolates_exactly_from_the_threshold_on(quick_series):
    n_train = DOUBLE_DESCENT.quick["n_train"]
    train = quick_series["train_error"]
    ridge_train = quick_series["ridge_train_error"]
    for width, error, ridge_error in zip(train.x, train.y, ridge_train.y):
        if width < n_train:
            assert error > 1e-3
        else:
            assert error < 1e-20
            assert ridge_error > 1e-3  # ridge gives up interpolation for a bounded norm


def test_null_error_is_the_documented_signal_variance():
    config = DOUBLE_DESCENT.make_config(
        {"n_train": 10, "n_test": 20000, "n_widths": 1, "draws": 1,
         "nonlinearity": 0.5, "input_dim": 20}
    )
    recorder = Recorder()
    DOUBLE_DESCENT.run(config, recorder)
    null_error = recorder.series()["null_error"].y[0]
    # Linear part variance 1, quadratic part (d - 1) / (d + 2) on the sphere.
    assert null_error == pytest.approx(1 + 0.5**2 * 19 / 22, rel=0.03)


def test_every_claim_names_only_logged_series(quick_series):
    for claim in DOUBLE_DESCENT.claims:
        validate_claim(claim, quick_series)
