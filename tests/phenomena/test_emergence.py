"""The emergence recipe: parity labels, Zipf frequencies, the hidden-progress probe, the logs."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import phenomena
from runner.claims import validate_claim
from runner.recorder import Recorder

EMERGENCE = phenomena.get("emergence")
module = EMERGENCE.module

SINGLE_PARITY_SERIES = {
    "train_loss",
    "test_loss",
    "test_acc",
    "support_alignment",
    "support_weight_frac",
}
MULTITASK_SERIES = {"multitask_acc", "multitask_loss", "task_frequency"}


def run_quick(**overrides) -> dict:
    recorder = Recorder()
    EMERGENCE.run(EMERGENCE.make_config({**EMERGENCE.quick, **overrides}), recorder)
    return recorder.series()


@pytest.fixture(scope="module")
def quick_series():
    return run_quick()


def test_parity_is_the_product_of_the_support_bits():
    bits = torch.tensor(
        [
            [1.0, 1.0, 1.0, 1.0],
            [-1.0, 1.0, 1.0, -1.0],  # one -1 on the support {0, 2}: odd
            [-1.0, 1.0, -1.0, 1.0],  # two: even
            [1.0, -1.0, 1.0, -1.0],  # -1s only off the support: even
        ]
    )
    assert module.parity(bits, torch.tensor([0, 2])).tolist() == [1.0, -1.0, 1.0, 1.0]


def test_random_bits_are_plus_or_minus_one_and_balanced():
    bits = module.random_bits(4000, 8, torch.Generator().manual_seed(0))
    assert set(bits.unique().tolist()) == {-1.0, 1.0}
    assert abs(float(bits.mean())) < 0.03


def test_zipf_frequencies_sum_to_one_and_fall_as_a_power_of_the_rank():
    frequencies = module.zipf_frequencies(5, 1.4)
    assert float(frequencies.sum()) == pytest.approx(1.0, abs=1e-6)
    assert all(a > b for a, b in itertools.pairwise(frequencies.tolist()))
    # p_1 / p_i = i^exponent
    assert float(frequencies[0] / frequencies[3]) == pytest.approx(4**1.4, rel=1e-5)


def test_multitask_inputs_carry_the_task_code_and_the_task_parity():
    generator = torch.Generator().manual_seed(0)
    subsets = torch.tensor([[0, 1, 2], [3, 4, 5]])
    tasks = torch.tensor([0, 1, 1, 0, 1])
    inputs, labels = module.multitask_batch(tasks, subsets, 8, generator)
    assert inputs.shape == (5, 2 + 8)
    assert inputs[:, :2].argmax(dim=1).tolist() == tasks.tolist()
    assert inputs[:, :2].sum(dim=1).tolist() == [1.0] * 5
    bits = inputs[:, 2:]
    for row, task in enumerate(tasks.tolist()):
        assert labels[row] == bits[row, subsets[task]].prod()


def test_support_alignment_is_one_when_weights_sit_only_on_the_support():
    support = torch.tensor([1, 4])
    weight = torch.zeros(3, 6)
    weight[:, support] = torch.tensor([[1.0, -2.0], [0.5, 0.5], [-3.0, 1.0]])
    assert module.support_shares(weight, support) == pytest.approx((1.0, 1.0))


def test_support_alignment_of_units_that_ignore_the_support_is_k_over_n():
    support = torch.tensor([0, 1, 2])
    best_unit, layer = module.support_shares(torch.ones(4, 30), support)
    assert (best_unit, layer) == pytest.approx((3 / 30, 3 / 30))


def test_support_alignment_takes_the_best_unit_but_the_layer_share_averages():
    support = torch.tensor([0])
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # one unit on the support, one off
    assert module.support_shares(weight, support) == pytest.approx((1.0, 0.5))


def test_too_many_tasks_for_the_bits_is_refused_with_the_fix():
    config = EMERGENCE.make_config({**EMERGENCE.quick, "n_tasks": 6, "task_bits": 15})
    with pytest.raises(ValueError, match="task_bits >= 18"):
        module.run_multitask_parity(config, torch.Generator().manual_seed(0), Recorder())


def test_quick_run_logs_the_documented_series(quick_series):
    n_tasks = EMERGENCE.make_config(EMERGENCE.quick).n_tasks
    task_series = {f"task{task}_acc" for task in range(n_tasks)}
    assert set(quick_series) == SINGLE_PARITY_SERIES | MULTITASK_SERIES | task_series
    for name, series in quick_series.items():
        assert all(value is not None and math.isfinite(value) for value in series.y), name
        expected_axis = "task" if name == "task_frequency" else "step"
        assert series.axis == expected_axis, name
    for name in {"test_acc", "multitask_acc"} | task_series:
        assert all(0.0 <= value <= 1.0 for value in quick_series[name].y), name
    assert quick_series["task_frequency"].x == [float(task) for task in range(n_tasks)]
    assert sum(quick_series["task_frequency"].y) == pytest.approx(1.0, abs=1e-6)


def test_quick_run_learns_its_small_parity_and_ends_on_the_support(quick_series):
    # A 3-of-10 parity is easy: starts at chance, ends well above it, and the
    # best hidden unit ends reading only the three secret bits.
    accuracy = quick_series["test_acc"].y
    assert accuracy[0] < 0.6 and accuracy[-1] > 0.9
    alignment = quick_series["support_alignment"].y
    assert alignment[0] < 0.8 and alignment[-1] > 0.99


def test_claims_parse_and_name_only_series_the_default_run_logs():
    n_tasks = EMERGENCE.config_class().n_tasks
    names = SINGLE_PARITY_SERIES | MULTITASK_SERIES | {f"task{task}_acc" for task in range(n_tasks)}
    assert EMERGENCE.claims
    for claim in EMERGENCE.claims:
        validate_claim(claim, names)


def test_the_seed_changes_the_run():
    first = run_quick(steps=20, multitask_steps=20)
    other = run_quick(steps=20, multitask_steps=20, seed=1)
    assert first["test_acc"].y != other["test_acc"].y
    assert first["task0_acc"].y != other["task0_acc"].y


def test_the_two_parts_draw_from_separate_streams():
    # Turning a knob of the single parity leaves the multitask run unchanged.
    base = run_quick(steps=20, multitask_steps=20)
    wider = run_quick(steps=40, width=32, multitask_steps=20)
    assert base["test_acc"].y != wider["test_acc"].y[: len(base["test_acc"].y)]
    for name in ("multitask_acc", "task0_acc", "task4_acc"):
        assert base[name].y == wider[name].y, name
