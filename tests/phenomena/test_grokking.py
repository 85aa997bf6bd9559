"""The grokking recipe: its Fourier probes, its data split, its model, and what a run logs."""

from __future__ import annotations

import math

import pytest
import torch

import phenomena
from runner.claims import validate_claim
from runner.recorder import Recorder

GROKKING = phenomena.get("grokking")
module = GROKKING.module

SERIES = {
    "train_loss",
    "test_loss",
    "train_acc",
    "test_acc",
    "weight_norm",
    "fourier_ipr",
    "key_freqs",
}


@pytest.fixture(scope="module")
def quick_series():
    recorder = Recorder()
    GROKKING.run(GROKKING.make_config(GROKKING.quick), recorder)
    return recorder.series()


def cosine(p: int, k: int, phase: float = 0.0) -> torch.Tensor:
    """cos(2 pi k t / p + phase) over the tokens t = 0 .. p-1."""
    return torch.cos(2 * math.pi * k * torch.arange(p) / p + phase)


def test_ipr_of_a_single_fourier_mode_is_one():
    p = 97
    rows = torch.stack([3.0 * cosine(p, 5, 0.7), cosine(p, 48), cosine(p, 1, -2.0)])
    assert module.fourier_ipr(rows) == pytest.approx(torch.ones(3), abs=1e-5)


def test_ipr_of_a_flat_spectrum_is_one_over_the_number_of_frequencies():
    p = 97
    spike = torch.zeros(1, p)
    spike[0, 11] = 2.0  # a delta in token space has equal power at every frequency
    assert module.fourier_ipr(spike).item() == pytest.approx(1 / (p // 2 + 1), rel=1e-5)


def test_ipr_of_two_equal_modes_is_one_half():
    p = 31
    row = (cosine(p, 2) + cosine(p, 7, 1.0))[None]
    assert module.fourier_ipr(row).item() == pytest.approx(0.5, rel=1e-5)


def test_ipr_survives_neurons_that_weight_decay_has_all_but_killed():
    p = 97
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(2, p, generator=generator)
    tiny = module.fourier_ipr(rows * 1e-13)  # float32 weights; squared twice they underflow
    assert torch.allclose(tiny, module.fourier_ipr(rows), rtol=1e-5)
    # A dead neuron has no spectrum: NaN, which the logged mean skips.
    assert module.fourier_ipr(torch.zeros(1, p)).isnan().all()


def test_key_frequency_count_counts_equally_strong_frequencies():
    p = 97
    neurons = torch.stack([cosine(p, k, phase) for k, phase in [(3, 0.1), (9, 1.0), (20, 2.0), (41, 0.5)]])
    assert module.key_frequency_count(neurons) == pytest.approx(4.0, rel=1e-4)
    # The constant k = 0 is not a frequency: an offset does not change the count.
    assert module.key_frequency_count(neurons + 5.0) == pytest.approx(4.0, rel=1e-4)
    # Two neurons on one frequency with other phases still make one frequency.
    same = torch.stack([cosine(p, 6, 0.0), cosine(p, 6, 2.5)])
    assert module.key_frequency_count(same) == pytest.approx(1.0, rel=1e-4)


def test_mlp_is_the_quadratic_network_on_one_hot_inputs():
    p, width = 7, 5
    generator = torch.Generator().manual_seed(1)
    left, right, readout = (torch.randn(shape, generator=generator) for shape in [(width, p), (width, p), (p, width)])
    pairs = torch.tensor([[0, 0], [3, 5], [6, 1]])
    one_hot = torch.nn.functional.one_hot(pairs, p).float()
    expected = (left @ one_hot[:, 0].T + right @ one_hot[:, 1].T).square().T @ readout.T
    assert torch.allclose(module.mlp(pairs, left, right, readout), expected, atol=1e-5)


def test_split_is_a_seeded_partition_of_the_addition_table():
    p = 11
    train, test = module.split_pairs(p, 0.3, torch.Generator().manual_seed(0))
    assert len(train) == round(0.3 * p * p) and len(train) + len(test) == p * p
    everything = {tuple(pair) for pair in torch.cat([train, test]).tolist()}
    assert everything == {(a, b) for a in range(p) for b in range(p)}
    again, _ = module.split_pairs(p, 0.3, torch.Generator().manual_seed(0))
    other, _ = module.split_pairs(p, 0.3, torch.Generator().manual_seed(1))
    assert torch.equal(train, again) and not torch.equal(train, other)


def test_evaluation_steps_are_dense_early_and_cover_the_run():
    steps = module.evaluation_steps(1000, 10)
    assert steps[0] == 0 and steps[-1] == 1000
    assert steps == sorted(set(steps))
    assert set(range(0, 1001, 10)) <= set(steps)
    assert set(range(13)) <= set(steps)  # memorisation happens in the first ~20 steps
    assert module.evaluation_steps(7, 5)[-1] == 7


def test_quick_run_logs_the_documented_series_against_step(quick_series):
    assert set(quick_series) == SERIES
    steps = [float(step) for step in module.evaluation_steps(GROKKING.quick["steps"], 10)]
    for name, series in quick_series.items():
        assert series.axis == "step", name
        assert series.x == steps, name
        assert all(value is not None and math.isfinite(value) for value in series.y), name
    for name in ("train_acc", "test_acc"):
        assert all(0.0 <= value <= 1.0 for value in quick_series[name].y)
    # A random initialisation has a nearly flat spectrum; training memorises.
    assert quick_series["fourier_ipr"].y[0] < 0.3
    assert quick_series["train_acc"].y[-1] > quick_series["train_acc"].y[0]


def test_every_claim_names_only_logged_series(quick_series):
    for claim in GROKKING.claims:
        validate_claim(claim, quick_series)


def test_cross_entropy_loss_runs():
    recorder = Recorder()
    GROKKING.run(GROKKING.make_config({**GROKKING.quick, "steps": 10, "loss": "cross_entropy"}), recorder)
    assert set(recorder.series()) == SERIES


def test_unknown_config_keys_are_rejected():
    with pytest.raises(phenomena.ConfigError, match="no config key 'lr'"):
        GROKKING.make_config({"lr": 0.1})


@pytest.mark.parametrize(
    "overrides, message",
    [({"loss": "hinge"}, "loss must be one of"), ({"train_fraction": 1.0}, "train_fraction")],
)
def test_impossible_config_values_are_rejected(overrides, message):
    config = GROKKING.make_config({**GROKKING.quick, **overrides})
    with pytest.raises(ValueError, match=message):
        GROKKING.run(config, Recorder())
