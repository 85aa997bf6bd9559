"""The neural-scaling probes, its feature frequencies, and the QUICK run."""

import math

import pytest
import torch

import phenomena
from phenomena import neural_scaling as ns
from runner.recorder import Recorder


def test_feature_frequencies_are_a_normalised_power_law_with_the_papers_alpha():
    probability = ns.feature_probability(1000, alpha=1.5)
    assert probability.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert (probability[1:] < probability[:-1]).all()
    # p_i ~ i^-alpha (Liu et al.'s alpha): doubling the rank divides the frequency by 2^1.5.
    assert (probability[9] / probability[19]).item() == pytest.approx(2**1.5, rel=1e-4)


def test_unrepresented_loss_is_the_frequency_mass_beyond_the_kept_features():
    probability = ns.feature_probability(100, alpha=1.0)
    assert ns.unrepresented_loss(probability, 0) == pytest.approx(ns.MEAN_SQUARE / 100, rel=1e-6)
    assert ns.unrepresented_loss(probability, 100) == 0
    assert ns.unrepresented_loss(probability, 10) == pytest.approx(
        ns.MEAN_SQUARE / 100 * probability[10:].sum().item(), rel=1e-6)


def test_the_predicted_weak_exponent_tends_to_alpha_minus_one_for_many_features():
    # Liu et al.: sum_{i > m} p_i ~ m^-(alpha - 1) when n -> infinity (up to
    # the discreteness of the sum at m = 4: 0.48 and 0.95 here); a finite n
    # steepens it, more so the closer alpha is to 1.
    widths = [4, 8, 16, 32]
    for alpha in (1.5, 2.0):
        probability = ns.feature_probability(1 << 18, alpha)
        predicted = [ns.unrepresented_loss(probability, m) for m in widths]
        assert ns.exponent(widths, predicted) == pytest.approx(alpha - 1, abs=0.06)
    small = ns.feature_probability(2048, 1.25)
    assert ns.exponent(widths, [ns.unrepresented_loss(small, m) for m in widths]) > 0.3


def test_exponent_of_a_power_law():
    widths = [4, 8, 16, 32]
    assert ns.exponent(widths, [3 * m**-1.3 for m in widths]) == pytest.approx(1.3)


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


def test_alpha_tags_are_series_name_suffixes():
    assert ns.alpha_tag(0.75) == "alpha0p75"
    assert ns.alpha_tag(1.0) == "alpha1"
    assert ns.alpha_tag(1.25) == "alpha1p25"


def quick_run(seed: int = 2, **overrides) -> tuple:
    phenomenon = phenomena.get("neural-scaling")
    config = phenomenon.make_config({**phenomenon.quick, "seed": seed, **overrides})
    recorder = Recorder()
    phenomenon.run(config, recorder)
    return config, recorder


def test_quick_run_logs_the_documented_series():
    config, recorder = quick_run()
    series = recorder.series()
    alphas = sorted(config.alphas)
    per_width = [f"{name}_{ns.alpha_tag(a)}" for a in alphas
                 for name in ("loss_strong", "loss_weak", "loss_unrepresented", "represented_weak",
                              "squared_overlap")]
    per_alpha = ["alpha", "strong_exponent", "weak_exponent", "weak_exponent_predicted",
                 "overlap_exponent", "strong_bend", "widest_advantage"]
    assert set(series) == set(per_width + per_alpha)
    for name in per_width:
        assert series[name].axis == "width"
        assert series[name].x == sorted(config.widths)
        assert all(math.isfinite(y) and y >= 0 for y in series[name].y)
    for name in per_alpha:
        assert series[name].axis == "alpha"
        assert series[name].x == alphas
    assert series["alpha"].y == alphas
    for a in alphas:
        represented = series[f"represented_weak_{ns.alpha_tag(a)}"].y
        assert all(0 <= r <= config.n_features for r in represented)
    assert recorder.latest_progress == (config.steps, config.steps)


def test_widths_and_alphas_are_logged_in_increasing_order_whatever_the_config_order():
    _, recorder = quick_run(widths=[4, 2, 3], alphas=[1.5, 0.5], steps=5)
    series = recorder.series()
    assert series["loss_strong_alpha0p5"].x == [2.0, 3.0, 4.0]
    assert series["strong_exponent"].x == [0.5, 1.5]


def test_weight_growth_represents_every_feature_and_decay_keeps_about_one_per_dimension():
    config, recorder = quick_run(steps=300, n_features=128, widths=[4, 8], alphas=[1.5])
    series = recorder.series()
    # Weak: the decay leaves a handful of features, of the order of m.
    assert all(1 <= r <= 4 * m for r, m in zip(series["represented_weak_alpha1p5"].y, [4, 8]))
    # Strong: squared overlaps of ~n unit features in m dimensions, ~1/m.
    for overlap, m in zip(series["squared_overlap_alpha1p5"].y, [4, 8]):
        assert overlap == pytest.approx(1 / m, rel=0.3)


def test_batched_seeds_match_each_seed_run_alone():
    """Tolerance rtol 1e-5, atol 1e-9. A seed's models are initialised and fed from
    its own generators, and the batched products compute each copy with the same
    per-copy shapes, so they agree to float rounding (in practice exactly)."""
    # The helper lives beside the superposition tests (pytest puts this folder on sys.path).
    from test_superposition import assert_batched_seeds_match_each_seed_alone

    assert_batched_seeds_match_each_seed_alone("neural-scaling", [3, 8], rel=1e-5, abs=1e-9)



@pytest.mark.slow
def test_default_config_holds_every_claim_on_seed_0():
    """About 30 s of CPU."""
    from test_superposition import assert_default_holds_every_claim

    assert_default_holds_every_claim("neural-scaling")
