"""The double-descent recipe: its fits, its width grid, what a run logs, batched seeds."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

import phenomena
from runner.claims import check_claims, validate_claim
from runner.recorder import Recorder
from tests.phenomena.batching import batched_and_alone

DOUBLE_DESCENT = phenomena.get("double-descent")
module = DOUBLE_DESCENT.module

SERIES = {
    "test_error",
    "clean_test_error",
    "train_error",
    "coef_norm",
    "ridge_test_error",
    "ridge_train_error",
    "ridge_coef_norm",
    "n_train",
    "null_error",
}


def random_features(n_points: int, n_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A ReLU feature matrix and two columns of random labels, as the recipe builds them."""
    generator = torch.Generator().manual_seed(0)
    x = module.sphere(n_points, 5, generator)
    weights = torch.randn(5, n_features, generator=generator, dtype=torch.float64)
    y = torch.randn(n_points, 2, generator=generator, dtype=torch.float64)
    return module.relu_features(x, weights), y


def quick_config(**overrides):
    return DOUBLE_DESCENT.make_config({**DOUBLE_DESCENT.quick, **overrides})


@pytest.fixture(scope="module")
def quick_series():
    recorder = Recorder()
    DOUBLE_DESCENT.run(quick_config(), recorder)
    return recorder.series()


def test_relu_features_scale_as_documented():
    generator = torch.Generator().manual_seed(1)
    x = module.sphere(7, 4, generator)
    weights = torch.randn(4, 9, generator=generator, dtype=torch.float64)
    expected = torch.relu(x @ weights / 4**0.5) / 9**0.5
    torch.testing.assert_close(module.relu_features(x, weights), expected)


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
    assert torch.allclose(phi.T @ residual, torch.zeros(20, 2, dtype=torch.float64), atol=1e-9)


def test_ridge_interpolates_between_ridgeless_and_zero():
    phi, y = random_features(n_points=30, n_features=60)
    ridgeless, nearly_ridgeless = module.fit(phi, y, ridge=1e-14)
    assert torch.allclose(nearly_ridgeless, ridgeless, atol=1e-6)
    _, heavily_ridged = module.fit(phi, y, ridge=1e9)
    assert (phi @ heavily_ridged).abs().max() < 1e-6
    # The ridge solution solves (phi^T phi + n lambda) a = phi^T y.
    _, ridged = module.fit(phi, y, ridge=1e-2)
    gram = phi.T @ phi + 30 * 1e-2 * torch.eye(60, dtype=torch.float64)
    torch.testing.assert_close(gram @ ridged, phi.T @ y)


def test_fit_of_a_stack_is_the_fit_of_each_matrix():
    stack = [random_features(n_points=30, n_features=n) for n in (20, 20)]
    stack[1] = (stack[1][0].flip(0), stack[1][1])
    phis, ys = torch.stack([p for p, _ in stack]), torch.stack([y for _, y in stack])
    together = module.fit(phis, ys, ridge=1e-3)
    for i, (phi, y) in enumerate(stack):
        for joint, alone in zip(together, module.fit(phi, y, ridge=1e-3)):
            torch.testing.assert_close(joint[i], alone, rtol=1e-10, atol=1e-12)


def test_width_grid_straddles_the_threshold_without_the_square_case():
    config = DOUBLE_DESCENT.make_config({"n_train": 100})
    widths = module.width_grid(config)
    assert widths == sorted(set(widths))
    assert widths[0] == 10 and widths[-1] == 1000
    assert 100 not in widths
    # The neighbours of the threshold are the grid's next points on either side.
    assert max(w for w in widths if w < 100) == 89
    assert min(w for w in widths if w > 100) == 112
    odd = DOUBLE_DESCENT.make_config({"n_train": 37, "n_widths": 6})
    assert 37 not in module.width_grid(odd)
    with pytest.raises(ValueError, match="no width other than"):
        module.width_grid(DOUBLE_DESCENT.make_config({"min_ratio": 1.0, "max_ratio": 1.0}))


def test_quick_run_logs_the_documented_series_against_n_features(quick_series):
    assert set(quick_series) == SERIES
    widths = module.width_grid(quick_config())
    for name, series in quick_series.items():
        assert series.axis == "n_features", name
        assert series.x == [float(width) for width in widths], name
        assert all(value is not None for value in series.y), name
    assert set(quick_series["n_train"].y) == {float(quick_config().n_train)}


def test_quick_run_interpolates_exactly_beyond_the_threshold(quick_series):
    n_train = quick_config().n_train
    train = quick_series["train_error"]
    ridge_train = quick_series["ridge_train_error"]
    for width, error, ridge_error in zip(train.x, train.y, ridge_train.y):
        if width < n_train:
            assert error > 1e-3
        else:
            assert error < 1e-20
            assert ridge_error > 1e-3  # ridge gives up interpolation for a bounded norm


def test_without_label_noise_the_noisy_and_clean_curves_coincide():
    recorder = Recorder()
    DOUBLE_DESCENT.run(quick_config(noise_std=0.0, n_widths=5, draws=1), recorder)
    series = recorder.series()
    assert series["test_error"].y == series["clean_test_error"].y


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


def test_every_default_claim_holds_on_the_quick_config(quick_series):
    failed = [f"{c.claim}: {c.detail}"
              for c in check_claims(DOUBLE_DESCENT.claims, quick_series) if not c.holds]
    assert not failed, failed


def failing_claims(series: dict, **replaced) -> set[int]:
    """The numbers (1-7, as in the docstring) of the default claims that fail when
    the named series of a real run are replaced by the given curves."""
    metrics = {name: {"x": s.x, "y": s.y} for name, s in series.items()}
    for name, values in replaced.items():
        metrics[name] = {"x": metrics[name]["x"], "y": [float(v) for v in values]}
    results = check_claims(DOUBLE_DESCENT.claims, metrics)
    return {number for number, result in enumerate(results, start=1) if not result.holds}


def test_each_claim_fails_on_the_curve_without_the_phenomenon_it_rules_out(quick_series):
    """The docstring's list: each default claim fails on a curve that lacks part of the
    phenomenon, built by reshaping the QUICK run (on which every claim holds)."""
    widths = torch.tensor(quick_series["test_error"].x, dtype=torch.float64)
    test = torch.tensor(quick_series["test_error"].y, dtype=torch.float64)
    n = float(quick_series["n_train"].y[0])
    assert failing_claims(quick_series) == set()

    # A monotone decrease from the smallest width's error to the widest's.
    slope = math.log(test[-1] / test[0]) / math.log(widths[-1] / widths[0])
    assert {1, 2} <= failing_claims(quick_series,
                                    test_error=test[0] * (widths / widths[0]) ** slope)
    # The classical U: a sweet spot at N = 0.2 n, overfitting beyond it.
    classical = test[-1] * (1 + torch.log(widths / (0.2 * n)) ** 2)
    assert {1, 3, 4} <= failing_claims(quick_series, test_error=classical)
    # The same curve with its peak at N = 2 n.
    log_widths = torch.log(widths)
    shifted = torch.from_numpy(np.interp(log_widths - math.log(2), log_widths, test))
    assert 1 in failing_claims(quick_series, test_error=shifted)
    # A second descent that stays above the classical sweet spot ...
    best_under = test[widths < n].min()
    assert 3 in failing_claims(quick_series, test_error=torch.where(
        widths > n, torch.maximum(test, best_under), test))
    # ... or turns up again after 3 n.
    at_3n = test[widths <= 3 * n][-1]
    turning = torch.where(widths > 3 * n, at_3n * (widths / (3 * n)) ** 0.3, test)
    assert 4 in failing_claims(quick_series, test_error=turning)
    # A ridge curve that keeps the peak.
    assert 5 in failing_claims(quick_series, ridge_test_error=test)
    # A peak fixed by construction: as tall without label noise as with it.
    assert {6, 7} <= failing_claims(quick_series, clean_test_error=test)
    # Label noise that adds the same error at every width.
    assert 7 in failing_claims(quick_series, clean_test_error=test - 0.5 * test[-1])


def test_progress_reaches_its_total(quick_series):
    recorder = Recorder()
    DOUBLE_DESCENT.run(quick_config(n_widths=5, draws=1), recorder)
    done, total = recorder.latest_progress
    assert done == total == sum(module.width_grid(quick_config(n_widths=5)))


def assert_same_run(batched: Recorder, alone: Recorder, seed: int) -> None:
    """The same series at the same widths, every point within rtol 1e-9 (atol 1e-12 for
    the training errors of interpolating fits, rounding error around 1e-28), the same
    verdict on every default claim, and the same final progress."""
    mine, theirs = batched.series(), alone.series()
    assert mine.keys() == theirs.keys()
    for name in theirs:
        assert mine[name].x == theirs[name].x, (seed, name)
        torch.testing.assert_close(torch.tensor(mine[name].y), torch.tensor(theirs[name].y),
                                   rtol=1e-9, atol=1e-12, msg=f"seed {seed}: {name}")
    assert ([c.holds for c in check_claims(DOUBLE_DESCENT.claims, mine)]
            == [c.holds for c in check_claims(DOUBLE_DESCENT.claims, theirs)])
    assert batched.latest_progress == alone.latest_progress


def test_batched_seeds_give_the_curves_and_claims_of_each_seed_alone():
    """run_batch on seeds (3, 0, 1) against run() on each seed alone, QUICK config.

    The copies are the same float64 arithmetic on stacked tensors: one SVD per
    matrix either way, and batched matmuls. Measured: bitwise equal (here, and on
    the default config for seeds 0-3, 1003 and 1017). The test allows rtol 1e-9
    for a BLAS whose batched matmuls round differently from single ones; at the
    widths next to the threshold 1/(smallest singular value), ~100, amplifies
    such rounding (1e-16) far less than that. Every default claim comes out the
    same.
    """
    config = quick_config()
    seeds = [3, 0, 1]
    assert DOUBLE_DESCENT.batched
    for seed, batched, alone in batched_and_alone(DOUBLE_DESCENT, config, seeds):
        assert_same_run(batched, alone, seed)


@pytest.mark.slow
def test_every_default_claim_holds_on_four_seeds_batched_and_on_one_alone():
    """The default config: seeds 0-3 as one batch, every default claim on each; seed 2
    alone gives the same curves and claims as its copy in the batch."""
    config = DOUBLE_DESCENT.config_class()
    seeds = [0, 1, 2, 3]
    logs = [Recorder() for _ in seeds]
    DOUBLE_DESCENT.run_batch(config, seeds, logs)
    for seed, log in zip(seeds, logs):
        failed = [f"{c.claim}: {c.detail}"
                  for c in check_claims(DOUBLE_DESCENT.claims, log.series()) if not c.holds]
        assert not failed, (seed, failed)
    alone = Recorder()
    DOUBLE_DESCENT.run(dataclasses.replace(config, seed=2), alone)
    assert_same_run(logs[2], alone, 2)
