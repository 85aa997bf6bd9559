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
    first = sp.sample_features(probability, 20_000, 2.0, [sp.feature_source(3)])
    again = sp.sample_features(probability, 20_000, 2.0, [sp.feature_source(3)])
    assert torch.equal(first, again)
    active = (first > 0).float().mean(dim=1)[0]
    assert active[0] > 0.999 and active[1] == pytest.approx(0.1, abs=0.01) and active[2] == 0
    assert first.max() < 2.0
    # Active values are uniform on [0, max_value): mean 1 for max_value 2.
    assert first[0, :, 0].mean() == pytest.approx(1.0, abs=0.02)
    values = first[0, :, 1][first[0, :, 1] > 0]
    assert values.mean() == pytest.approx(1.0, abs=0.05)


def test_each_source_feeds_its_own_groups_whatever_runs_beside_it():
    probability = torch.tensor([[0.5, 0.2], [0.1, 0.9]])
    alone = [sp.sample_features(probability, 64, 1.0, [sp.feature_source(s)]) for s in (4, 5)]
    together = sp.sample_features(probability.repeat(2, 1), 64, 1.0, [sp.feature_source(4), sp.feature_source(5)])
    assert torch.equal(together, torch.cat(alone))
    # The groups of one source share their draws: a feature active at p' < p is active at p.
    first = alone[0]
    assert bool(((first[1, :, 0] > 0) <= (first[0, :, 0] > 0)).all())


def test_hand_written_gradients_match_autograd():
    generator = torch.Generator().manual_seed(0)
    groups, per_group, batch, n, m = 2, 3, 64, 30, 4
    models = groups * per_group
    weights = torch.randn(models, n, m, generator=generator, dtype=torch.float64)
    weights[1, :, 2:] = 0  # a narrower model, zero-padded to m
    bias = 0.3 * torch.randn(models, 1, n, generator=generator, dtype=torch.float64)
    inputs = sp.sample_features(torch.rand(groups, n, generator=generator) * 0.3, batch, 1.0,
                                [sp.feature_source(0)]).double()
    importance = torch.rand(models, n, generator=generator, dtype=torch.float64)
    grads = torch.empty(models, n, m + 1, dtype=torch.float64)
    params = torch.cat([weights, bias.transpose(1, 2)], dim=2)
    sp.gradients(params, inputs, (2 / batch) * importance[:, :, None], grads)

    weights.requires_grad_()
    bias.requires_grad_()
    each = inputs.repeat_interleave(per_group, 0)
    sp.weighted_error(sp.reconstruct(weights, bias, each), each, importance).sum().backward()
    assert torch.allclose(grads[:, :, :m], weights.grad, rtol=1e-10, atol=1e-12)
    assert torch.allclose(grads[:, :, m], bias.grad[:, 0], rtol=1e-10, atol=1e-12)
    assert grads[1, :, 2:m].abs().max() == 0  # padding stays padding


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
    weights = torch.randn(1, n, m, generator=generator) * 0.3
    bias = torch.zeros(1, 1, n)
    importance = (0.5 ** torch.arange(n, dtype=torch.float32))[None]
    probability = torch.ones(1, n)
    eval_inputs = sp.sample_features(probability, 2000, 1.0, [sp.feature_source(1)])
    before = sp.weighted_error(sp.reconstruct(weights, bias, eval_inputs), eval_inputs, importance)
    sp.train_toy_models(
        [sp.ToyModels(weights, bias, importance, weight_decay=torch.zeros(1, 1, 1), lr=3e-2)],
        probability=probability, steps=600, batch_size=256, max_value=1.0, sources=[sp.feature_source(0)],
    )
    after = sp.weighted_error(sp.reconstruct(weights, bias, eval_inputs), eval_inputs, importance)
    assert after < 0.5 * before
    norms = sp.feature_norms(weights)[0]
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



def test_run_reports_progress_to_the_end():
    phenomenon = phenomena.get("superposition")
    config = phenomenon.make_config({**phenomenon.quick, "seed": 1})
    recorder = Recorder()
    phenomenon.run(config, recorder)
    assert recorder.latest_progress == (config.steps, config.steps)


def assert_batched_seeds_match_each_seed_alone(name: str, seeds: list[int], rel: float, abs: float) -> None:
    """On the QUICK config, run_batch(seeds) gives every seed the curves of that seed run
    alone (within rel/abs), the same claim results, and progress to the end.
    (test_neural_scaling uses it too.)"""
    from dataclasses import replace

    from runner.claims import check_claims

    phenomenon = phenomena.get(name)
    config = phenomenon.make_config(phenomenon.quick)
    batched = [Recorder() for _ in seeds]
    phenomenon.run_batch(config, seeds, batched)
    for seed, recorder in zip(seeds, batched):
        alone = Recorder()
        phenomenon.run(replace(config, seed=seed), alone)
        solo, batch = alone.series(), recorder.series()
        assert set(solo) == set(batch)
        for series in solo:
            assert batch[series].x == solo[series].x
            assert batch[series].y == pytest.approx(solo[series].y, rel=rel, abs=abs), series
        assert [c.holds for c in check_claims(phenomenon.claims, batch)] == \
            [c.holds for c in check_claims(phenomenon.claims, solo)]
        assert recorder.latest_progress == (config.steps, config.steps)


def test_batched_seeds_match_each_seed_run_alone():
    """Tolerance rtol 1e-5, atol 1e-7. The copies share nothing but the arithmetic
    (each has its own generators), and the batched matrix products compute every
    copy with the same per-copy shapes, so they agree to float rounding (in
    practice exactly)."""
    assert_batched_seeds_match_each_seed_alone("superposition", [3, 7, 11], rel=1e-5, abs=1e-7)



def assert_default_holds_every_claim(name: str) -> None:
    """The full default run on seed 0 against every default claim (test_neural_scaling uses it too)."""
    from runner.claims import check_claims

    phenomenon = phenomena.get(name)
    recorder = Recorder()
    phenomenon.run(phenomenon.make_config({}), recorder)
    failed = [c.detail for c in check_claims(phenomenon.claims, recorder.series()) if not c.holds]
    assert not failed, failed


@pytest.mark.slow
def test_default_config_holds_every_claim_on_seed_0():
    """About 11 s of CPU."""
    assert_default_holds_every_claim("superposition")
