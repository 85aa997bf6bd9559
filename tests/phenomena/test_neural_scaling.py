"""The neural-scaling probes, its feature frequencies, and the QUICK run."""

import math

import pytest
import torch

import phenomena
from phenomena import neural_scaling as ns
from runner.recorder import Recorder




def test_feature_frequencies_are_a_normalised_power_law():
    probability = ns.feature_probability(1000, alpha=0.5)
    assert probability.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert (probability[1:] < probability[:-1]).all()
    # p_i ~ i^-(1 + alpha): doubling the rank divides the frequency by 2^1.5.
    assert (probability[9] / probability[19]).item() == pytest.approx(2**1.5, rel=1e-4)


def test_squared_overlap_is_zero_for_orthogonal_and_one_for_antipodal_features():
    orthogonal = torch.eye(4)[None]
    assert ns.mean_squared_overlap(orthogonal).item() == pytest.approx(0.0, abs=1e-7)
    antipodal = torch.tensor([[[1.0], [-1.0]]])
    assert ns.mean_squared_overlap(antipodal).item() == pytest.approx(1.0)


def test_squared_overlap_of_random_directions_is_one_over_m():
    # The geometric fact behind loss ~ 1/m: n >> m random unit vectors in m
    # dimensions overlap by (W^_i . W^_j)^2 ~ 1/m on average.
    generator = torch.Generator().manual_seed(0)
    for m in (8, 32):
        weights = torch.randn(1, 2000, m, generator=generator)
        assert ns.mean_squared_overlap(weights).item() == pytest.approx(1 / m, rel=0.05)


def test_quick_run_logs_the_documented_series_against_width():
    phenomenon = phenomena.get("neural-scaling")
    config = phenomenon.make_config({**phenomenon.quick, "seed": 2})
    recorder = Recorder()
    phenomenon.run(config, recorder)
    series = recorder.series()

    names = {"alpha", "loss_strong", "loss_weak", "fraction_represented_strong",
             "fraction_represented_weak", "squared_overlap_strong", "unlearned_weak"}
    assert set(series) == names
    for name in names:
        assert series[name].axis == "width"
        assert series[name].x == sorted(config.widths)
    assert set(series["alpha"].y) == {config.alpha}
    for name in ("loss_strong", "loss_weak", "squared_overlap_strong"):
        assert all(math.isfinite(y) and y > 0 for y in series[name].y)
    for name in ("fraction_represented_strong", "fraction_represented_weak", "unlearned_weak"):
        assert all(0 <= y <= 1 for y in series[name].y)


def test_widths_are_logged_in_increasing_order_whatever_the_config_order():
    phenomenon = phenomena.get("neural-scaling")
    config = phenomenon.make_config({**phenomenon.quick, "widths": [4, 2], "steps": 5})
    recorder = Recorder()
    phenomenon.run(config, recorder)
    assert recorder.series()["loss_strong"].x == [2.0, 4.0]


def test_weight_growth_represents_every_feature_and_decay_prunes_rare_ones():
    from phenomena.superposition import feature_norms, init_weights, train_toy_models

    generator = torch.Generator().manual_seed(0)
    n, m = 64, 4
    weights = init_weights(2, n, m, generator).requires_grad_()
    bias = torch.zeros(2, 1, n, requires_grad=True)
    train_toy_models(
        weights=weights, bias=bias, probability=ns.feature_probability(n, 0.5)[None],
        importance=torch.full((1, n), 1 / n), steps=400, batch_size=256,
        max_value=ns.MAX_VALUE, lr_weights=1e-2, lr_bias=1e-2,
        weight_decay=torch.tensor([-1.0, 1.0]).view(2, 1, 1), generator=generator,
    )
    represented = feature_norms(weights.detach()) > 0.5
    # Strong: weight growth keeps (nearly) all n features; weak: decay leaves a handful.
    assert represented[0].float().mean() >= 0.9
    assert represented[1].sum() <= 2 * m
