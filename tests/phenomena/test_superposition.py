"""The superposition probes on hand-made weights, the shared toy model, and the QUICK run."""

import math

import pytest
import torch

import phenomena
from phenomena import superposition as sp
from runner.recorder import Recorder




def stack(rows) -> torch.Tensor:
    """One model's weights [1, n, m] from a list of feature directions."""
    return torch.tensor(rows, dtype=torch.float32)[None]


def polygon(corners: int) -> torch.Tensor:
    """`corners` unit features evenly spaced on a circle in 2 dimensions."""
    angles = [2 * math.pi * k / corners for k in range(corners)]
    return stack([[math.cos(a), math.sin(a)] for a in angles])


def test_orthogonal_features_have_no_interference_and_one_dimension_each():
    weights = stack([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert sp.interference(weights).abs().max() < 1e-6
    assert sp.dims_per_feature(weights).item() == pytest.approx(1.0)
    assert sp.feature_dimensionality(weights)[0].tolist() == pytest.approx([1.0, 1.0, 1.0])
    everyone = torch.ones(1, 3, dtype=torch.bool)
    assert sp.max_overlap(weights, everyone).item() == pytest.approx(0.0, abs=1e-6)


def test_dropped_features_count_as_zero_dimensions():
    # The dense solution: m features kept orthogonally, the rest at norm 0.
    weights = stack([[1, 0], [0, 1], [0, 0], [0, 0]])
    assert sp.feature_norms(weights)[0].tolist() == pytest.approx([1, 1, 0, 0])
    assert sp.feature_dimensionality(weights)[0].tolist() == pytest.approx([1, 1, 0, 0])
    assert sp.dims_per_feature(weights).item() == pytest.approx(1.0)


def test_an_antipodal_pair_shares_one_dimension():
    weights = stack([[1.0], [-1.0]])
    assert sp.dims_per_feature(weights).item() == pytest.approx(0.5)
    assert sp.feature_dimensionality(weights)[0].tolist() == pytest.approx([0.5, 0.5])
    # Each feature sees the other fully along its own direction.
    assert sp.interference(weights)[0].tolist() == pytest.approx([1.0, 1.0])
    assert sp.max_overlap(weights, torch.ones(1, 2, dtype=torch.bool)).item() == pytest.approx(1.0)


def test_a_pentagon_gives_two_fifths_of_a_dimension_per_feature():
    weights = polygon(5)
    assert sp.dims_per_feature(weights).item() == pytest.approx(0.4)
    assert sp.feature_dimensionality(weights)[0].tolist() == pytest.approx([0.4] * 5, abs=1e-5)


def test_max_overlap_ignores_features_that_are_not_represented():
    # Feature 2 is a faint copy of feature 0: not represented, so no overlap counts.
    weights = stack([[1, 0], [0, 1], [0.1, 0]])
    represented = sp.feature_norms(weights) > sp.REPRESENTED_NORM
    assert represented[0].tolist() == [True, True, False]
    assert sp.max_overlap(weights, represented).item() == pytest.approx(0.0, abs=1e-6)


def test_sample_features_is_sparse_uniform_and_seeded():
    probability = torch.tensor([[1.0, 0.1, 0.0]])
    first = sp.sample_features(probability, 20_000, 2.0, torch.Generator().manual_seed(3))
    again = sp.sample_features(probability, 20_000, 2.0, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    active = (first > 0).float().mean(dim=1)[0]
    assert active[0] > 0.999 and active[1] == pytest.approx(0.1, abs=0.01) and active[2] == 0
    assert first.max() < 2.0
    # Active values are uniform on [0, max_value]: mean 1 for max_value 2.
    assert first[0, :, 0].mean() == pytest.approx(1.0, abs=0.02)
    values = first[0, :, 1][first[0, :, 1] > 0]
    assert values.mean() == pytest.approx(1.0, abs=0.05)


def test_positive_decay_shrinks_and_negative_decay_pulls_rows_to_unit_norm():
    weights = stack([[2.0, 0.0], [0.0, 0.5], [0.0, 0.0]]).repeat(2, 1, 1)
    rate = torch.tensor([1.0, -1.0]).view(2, 1, 1)
    for _ in range(2000):
        sp.decay_weights(weights, rate, lr=0.01)
    norms = sp.feature_norms(weights)
    assert norms[0].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    assert norms[1, :2].tolist() == pytest.approx([1.0, 1.0], abs=1e-3)
    # A zero row has no direction to grow along; it stays zero.
    assert norms[1, 2].item() == 0.0


def test_training_on_dense_features_keeps_the_most_important_orthogonally():
    generator = torch.Generator().manual_seed(0)
    n, m = 6, 2
    weights = (torch.randn(1, n, m, generator=generator) * 0.3).requires_grad_()
    bias = torch.zeros(1, 1, n, requires_grad=True)
    losses = sp.train_toy_models(
        weights=weights, bias=bias, probability=torch.ones(1, n),
        importance=(0.5 ** torch.arange(n, dtype=torch.float32))[None],
        steps=600, batch_size=256, max_value=1.0, lr_weights=3e-2, lr_bias=3e-2,
        weight_decay=torch.zeros(1, 1, 1), generator=generator,
    )
    assert losses[-50:].mean() < 0.5 * losses[:10].mean()
    norms = sp.feature_norms(weights.detach())[0]
    assert (norms[:2] > 0.8).all() and (norms[2:] < 0.3).all()


def test_quick_run_logs_the_documented_series():
    phenomenon = phenomena.get("superposition")
    config = phenomenon.make_config({**phenomenon.quick, "seed": 1})
    recorder = Recorder()
    phenomenon.run(config, recorder)
    series = recorder.series()

    per_density = ["features_represented", "fraction_represented", "hidden_dims",
                   "dims_per_feature", "max_overlap", "mean_interference", "loss"]
    per_feature = ["feature_norm_sparse", "feature_norm_dense",
                   "feature_dimensionality_sparse", "feature_dimensionality_dense"]
    assert set(series) == set(per_density + per_feature)
    for name in per_density:
        assert series[name].axis == "density"
        assert series[name].x == sorted(config.densities)
    for name in per_feature:
        assert series[name].axis == "feature"
        assert series[name].x == list(range(config.n_features))
    assert set(series["hidden_dims"].y) == {config.hidden_dims}
    counts = series["features_represented"].y
    assert all(0 <= c <= config.n_features for c in counts)
    assert series["fraction_represented"].y == pytest.approx([c / config.n_features for c in counts])

