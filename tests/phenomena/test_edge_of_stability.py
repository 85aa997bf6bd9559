"""The edge-of-stability recipe: its sharpness estimator, its network, and what a run logs."""

from __future__ import annotations

import math

import pytest
import torch

import phenomena
from runner.claims import validate_claim
from runner.recorder import Recorder

EDGE_OF_STABILITY = phenomena.get("edge-of-stability")
module = EDGE_OF_STABILITY.module

SERIES = {"sharpness", "two_over_lr", "train_loss", "grad_norm", "loss_increases"}


def random_symmetric(size: int, eigenvalues: torch.Tensor) -> torch.Tensor:
    """A symmetric matrix with the given spectrum in a random orthonormal basis."""
    generator = torch.Generator().manual_seed(1)
    basis, _ = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64))
    return basis @ torch.diag(eigenvalues) @ basis.T




@pytest.fixture(scope="module")
def quick_series():
    recorder = Recorder()
    EDGE_OF_STABILITY.run(EDGE_OF_STABILITY.make_config(EDGE_OF_STABILITY.quick), recorder)
    return recorder.series()


def test_sharpness_is_the_top_eigenvalue_of_a_quadratic_loss():
    size = 12
    eigenvalues = torch.tensor([7.5, 3.0, 2.0, 1.0, 0.5, 0.1, 0.0, -0.2, -1.0, -2.5, 0.3, 0.7],
                               dtype=torch.float64)
    hessian = random_symmetric(size, eigenvalues)
    shift = torch.arange(size, dtype=torch.float64)

    def loss_fn(p):  # 0.5 (p - c)^T H (p - c): its Hessian is H everywhere
        return 0.5 * (p - shift) @ hessian @ (p - shift)

    start = torch.ones(size, dtype=torch.float64)
    point = torch.zeros(size, dtype=torch.float64)
    # With as many Lanczos steps as dimensions the answer is exact ...
    top, vector = module.top_hessian_eigenvalue(loss_fn, point, start, lanczos_steps=size)
    assert top == pytest.approx(7.5, rel=1e-10)
    assert torch.allclose(hessian @ vector, 7.5 * vector, atol=1e-8)
    # ... and a few steps from a warm start already give it to many digits,
    # even though a negative eigenvalue (-2.5) is larger than most positive ones.
    nearby = vector + 0.1 * start / start.norm()
    warm, _ = module.top_hessian_eigenvalue(loss_fn, point, nearby, lanczos_steps=4)
    assert warm == pytest.approx(7.5, rel=1e-4)


def test_sharpness_stops_early_on_an_exact_eigenvector():
    hessian = torch.diag(torch.tensor([4.0, 1.0, 0.5], dtype=torch.float64))

    def loss_fn(p):
        return 0.5 * p @ hessian @ p

    start = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    top, vector = module.top_hessian_eigenvalue(loss_fn, torch.zeros(3, dtype=torch.float64),
                                                start, lanczos_steps=10)
    assert top == pytest.approx(4.0, rel=1e-12)
    assert torch.allclose(vector.abs(), start)


def test_chebyshev_polynomials_match_the_closed_form():
    x = torch.linspace(-1, 1, 9, dtype=torch.float64)
    for degree in range(6):
        assert torch.allclose(module.chebyshev(degree, x), torch.cos(degree * torch.arccos(x)),
                              atol=1e-12)


def test_network_has_the_documented_shape_and_initialisation():
    config = EDGE_OF_STABILITY.make_config({"width": 5, "depth": 2})
    sizes = module.layer_sizes(config)
    assert sizes == [1, 5, 5, 1]
    parameters = module.init_parameters(sizes, torch.Generator().manual_seed(0))
    assert parameters.numel() == (1 * 5 + 5) + (5 * 5 + 5) + (5 * 1 + 1)
    assert parameters.dtype == torch.float64
    out = module.mlp(parameters, torch.zeros(3, 1, dtype=torch.float64), sizes)
    assert out.shape == (3, 1)
    assert torch.all(out == 0)  # zero input, zero biases, tanh(0) = 0


def test_quick_run_logs_the_documented_series(quick_series):
    quick = EDGE_OF_STABILITY.make_config(EDGE_OF_STABILITY.quick)
    assert set(quick_series) == SERIES
    every_step = [float(step) for step in range(quick.steps + 1)]
    every_k = [float(step) for step in range(0, quick.steps + 1, quick.sharpness_every)]
    for name in ("train_loss", "grad_norm", "loss_increases"):
        assert quick_series[name].x == every_step, name
    for name in ("sharpness", "two_over_lr"):
        assert quick_series[name].x == every_k, name
    for name, series in quick_series.items():
        assert series.axis == "step", name
        assert all(value is not None and math.isfinite(value) for value in series.y), name
    assert set(quick_series["two_over_lr"].y) == {2 / quick.lr}
    assert all(value > 0 for value in quick_series["sharpness"].y)
    increases = quick_series["loss_increases"].y
    assert increases[0] == 0
    assert all(b - a in (0, 1) for a, b in zip(increases, increases[1:]))
    assert quick_series["train_loss"].y[-1] < quick_series["train_loss"].y[0]


def test_every_claim_names_only_logged_series(quick_series):
    for claim in EDGE_OF_STABILITY.claims:
        validate_claim(claim, quick_series)


def test_a_config_key_that_does_not_belong_is_rejected():
    with pytest.raises(phenomena.ConfigError, match="learning_rate"):
        EDGE_OF_STABILITY.make_config({"learning_rate": 0.05})
