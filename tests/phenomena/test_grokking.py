"""The grokking recipe: its Fourier probes, its data split, its model and hand-written
gradient, what a run logs, and batched seeds against each seed alone."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import phenomena
from runner.claims import check_claims, validate_claim
from runner.recorder import Recorder
from tests.phenomena.batching import batched_and_alone

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
    "excluded_train_acc",
}
TRAIN_SERIES = {"train_loss", "train_acc"}


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
    assert float(module.key_frequency_count(neurons)) == pytest.approx(4.0, rel=1e-4)
    # The constant k = 0 is not a frequency: an offset does not change the count.
    assert float(module.key_frequency_count(neurons + 5.0)) == pytest.approx(4.0, rel=1e-4)
    # Two neurons on one frequency with other phases still make one frequency.
    same = torch.stack([cosine(p, 6, 0.0), cosine(p, 6, 2.5)])
    assert float(module.key_frequency_count(same)) == pytest.approx(1.0, rel=1e-4)


def test_mlp_is_the_quadratic_network_on_one_hot_inputs():
    p, width = 7, 5
    generator = torch.Generator().manual_seed(1)
    u, v, w = (torch.randn(shape, generator=generator) for shape in [(width, p), (width, p), (p, width)])
    pairs = torch.tensor([[0, 0], [3, 5], [6, 1]])
    one_hot = torch.nn.functional.one_hot(pairs, p).float()
    expected = w @ (u @ one_hot[:, 0].T + v @ one_hot[:, 1].T).square()  # [p, 3]: a column per pair
    # Two stacked models, the second with other weights and other pairs; stored token-major.
    stacked = [torch.stack([m.T, 2 * m.T]) for m in (u, v, w)]
    outputs = module.mlp(torch.stack([pairs, pairs.flip(0)]), *stacked)
    assert torch.allclose(outputs[0], expected.T, atol=1e-5)
    assert torch.allclose(outputs[1], 8 * expected.T.flip(0), atol=1e-4)


def reference_objective(outputs: torch.Tensor, targets: torch.Tensor, loss: str) -> torch.Tensor:
    """Per model: torch's own MSE against the one-hot targets, or cross-entropy."""
    if loss == "mse":
        one_hot = torch.nn.functional.one_hot(targets, outputs.shape[-1]).float()
        return torch.stack([torch.nn.functional.mse_loss(o, t) for o, t in zip(outputs, one_hot)])
    return torch.stack([torch.nn.functional.cross_entropy(o, t) for o, t in zip(outputs, targets)])


@pytest.mark.parametrize("loss", module.LOSSES)
def test_the_hand_written_gradient_is_autograds(loss, monkeypatch):
    """loss_and_accuracy's objective, accuracy and gradient against autograd through mlp,
    for two stacked models, with pairs going through in several chunks."""
    monkeypatch.setattr(module, "CHUNK_ROWS", 4)
    p, width, n = 11, 6, 10
    generator = torch.Generator().manual_seed(0)
    shapes = [(2, p, width), (2, p, width), (2, width, p)]
    weights = [torch.randn(shape, generator=generator) for shape in shapes]
    pairs = torch.randint(0, p, (2, n, 2), generator=generator)
    targets = pairs.sum(-1) % p
    objective, accuracy = module.loss_and_accuracy(pairs, targets, weights, loss, gradient=True)

    leaves = [w.detach().clone().requires_grad_() for w in weights]
    outputs = module.mlp(pairs, *leaves)
    expected = reference_objective(outputs, targets, loss)
    expected.sum().backward()
    torch.testing.assert_close(objective, expected.detach().double(), rtol=1e-5, atol=0)
    torch.testing.assert_close(accuracy, (outputs.argmax(-1) == targets).double().mean(-1))
    for weight, leaf in zip(weights, leaves):
        torch.testing.assert_close(weight.grad, leaf.grad, rtol=1e-5, atol=1e-6)


def gromov_neurons(p: int, frequencies: list[int], generator: torch.Generator) -> list[torch.Tensor]:
    """One model [1, p, N], [1, p, N], [1, N, p] whose neuron n is Gromov's single-frequency
    neuron: cos(w_k a + phi), cos(w_k b + psi), cos(w_k c + phi + psi), k = frequencies[n]."""
    phi, psi = (2 * math.pi * torch.rand(len(frequencies), generator=generator) for _ in range(2))
    u = torch.stack([cosine(p, k, float(f)) for k, f in zip(frequencies, phi)])
    v = torch.stack([cosine(p, k, float(f)) for k, f in zip(frequencies, psi)])
    w = torch.stack([cosine(p, k, float(f + g)) for k, f, g in zip(frequencies, phi, psi)])
    return [u.T[None], v.T[None], w[None]]


def test_fourier_probes_of_gromovs_solution():
    """Single-frequency neurons: IPR 1, as many key frequencies as distinct ones, and
    removing each neuron's dominant mode leaves nothing. A second, weaker frequency in
    one neuron is what the ablation leaves of it."""
    p = 23
    weights = gromov_neurons(p, [1, 2, 3, 4, 4, 7], torch.Generator().manual_seed(0))
    probes, ablated = module.fourier_probes(*weights)
    assert probes["fourier_ipr"].item() == pytest.approx(1.0, abs=1e-6)
    assert probes["key_freqs"].item() == pytest.approx(36 / 8, rel=1e-5)  # powers 1, 1, 1, 2, 1
    for matrix in ablated:
        assert matrix.abs().max() < 1e-5
    weaker = 0.3 * cosine(p, 9, 0.5)
    weights[0][0, :, 2] += weaker
    _, ablated = module.fourier_probes(*weights)
    torch.testing.assert_close(ablated[0][0, :, 2], weaker, atol=1e-5, rtol=0)
    assert ablated[1].abs().max() < 1e-5


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
    steps = module.evaluation_steps(500, 10)
    assert steps[0] == 0 and steps[-1] == 500
    assert steps == sorted(set(steps))
    assert set(range(0, 501, 10)) <= set(steps)
    assert set(range(12)) <= set(steps)  # memorisation happens in the first ~15 steps
    assert module.evaluation_steps(7, 5)[-1] == 7


def test_quick_run_logs_the_documented_series_against_step(quick_series):
    assert set(quick_series) == SERIES
    steps = GROKKING.quick["steps"]
    probed = [float(step) for step in module.evaluation_steps(steps, 10)]
    for name, series in quick_series.items():
        assert series.axis == "step", name
        # The training loss and accuracy come with every step's gradient.
        assert series.x == (list(map(float, range(steps + 1))) if name in TRAIN_SERIES else probed), name
        assert all(value is not None and math.isfinite(value) for value in series.y), name
    for name in ("train_acc", "test_acc", "excluded_train_acc"):
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


def assert_same_run(batched: Recorder, alone: Recorder, seed: int, until: float = math.inf) -> None:
    """The same series at the same steps; the same values within rtol 1e-4 (atol 1e-6) up
    to step `until`; the same verdict on every default claim; the same last progress."""
    mine, theirs = batched.series(), alone.series()
    assert mine.keys() == theirs.keys()
    for name in theirs:
        assert mine[name].x == theirs[name].x, (seed, name)
        upto = [i for i, x in enumerate(theirs[name].x) if x <= until]
        torch.testing.assert_close(torch.tensor(mine[name].y)[upto], torch.tensor(theirs[name].y)[upto],
                                   rtol=1e-4, atol=1e-6, msg=f"seed {seed}: {name}")
    assert ([c.holds for c in check_claims(GROKKING.claims, mine)]
            == [c.holds for c in check_claims(GROKKING.claims, theirs)])
    assert batched.latest_progress == alone.latest_progress


def test_batched_seeds_give_the_curves_and_claims_of_each_seed_alone():
    """run_batch on seeds (3, 0, 1) against run() on each seed alone, QUICK config.

    Every curve agrees within rtol 1e-4 (atol 1e-6) over the whole run, and every
    default claim comes out the same. Each copy does the same arithmetic as alone
    on its own slice of the stacked tensors (AdamW is elementwise); only the
    batched matmuls might round differently with the number of models stacked.
    Measured on the default config, seed 0 stacked with seeds 1-5 against seed 0
    alone: every series bitwise identical over all 500 steps, grokking included.
    """
    config = GROKKING.make_config(GROKKING.quick)
    seeds = [3, 0, 1]
    assert GROKKING.batched
    for seed, batched, alone in batched_and_alone(GROKKING, config, seeds):
        assert_same_run(batched, alone, seed)


@pytest.mark.slow
def test_default_claims_hold_on_seeds_trained_as_one_batch_and_each_seed_alone():
    """The default config: seeds 0-3 batched, every default claim holds on each; seeds 0
    and 3 alone give the same curves within rtol 1e-4 and the same claims."""
    config = GROKKING.config_class()
    seeds = [0, 1, 2, 3]
    batch = [Recorder() for _ in seeds]
    GROKKING.run_batch(config, seeds, batch)
    for seed, log in zip(seeds, batch):
        failed = [f"{c.claim}: {c.detail}"
                  for c in check_claims(GROKKING.claims, log.series()) if not c.holds]
        assert not failed, (seed, failed)
    for seed in (0, 3):
        alone = Recorder()
        GROKKING.run(dataclasses.replace(config, seed=seed), alone)
        assert_same_run(batch[seeds.index(seed)], alone, seed)
