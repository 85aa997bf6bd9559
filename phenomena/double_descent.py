"""Double descent: test error peaks where the number of features equals the training set size.

Classical statistics says test error is U-shaped in model size: too few
parameters underfit, too many overfit. Belkin, Hsu, Ma & Mandal (2019,
"Reconciling modern machine-learning practice and the classical bias-variance
trade-off", PNAS 116:15849) showed that the U is only the left half of the
picture. Keep growing a random-features model past the *interpolation
threshold* -- the width N at which it can first fit the n training points
exactly -- and, with the minimum-norm interpolating fit, test error comes down
again, below the classical sweet spot. Hastie, Montanari, Rosset & Tibshirani
(2019, "Surprises in high-dimensional ridgeless least squares interpolation",
Ann. Statist. 2022) and Mei & Montanari (2019, "The generalization error of
random features regression: precise asymptotics and double descent curve",
CPAM 2022) computed the curve exactly, the latter for random ReLU features on
the sphere: the peak sits at N = n; it is the noise in the labels -- and the
part of the target the features cannot represent, which acts as noise --
amplified by the smallest singular value of the feature matrix, which goes to
zero there (in the isotropic linear model of Hastie et al. the variance term
is sigma^2 gamma / (1 - gamma) below the threshold and sigma^2 / (gamma - 1)
above it, gamma = N / n); a large enough ridge penalty removes it. Nakkiran,
Kaplun, Bansal, Yang, Barak & Sutskever (2019, "Deep double descent: where
bigger models and more data hurt", ICLR 2020) found the same shape in deep
networks trained by SGD, with a peak that label noise makes taller and
regularisation removes.

The experiment. Inputs x are uniform on the sphere of radius sqrt(d) in d
dimensions; the target is a fixed random teacher, a linear part plus a
quadratic part (so that it is not exactly a random-features function),
observed with Gaussian label noise. One training set of n points and one
test set are drawn. For each width N on a log grid of N/n from `min_ratio` to
`max_ratio` we draw N random ReLU features phi_j(x) = relu(w_j . x / sqrt(d))
/ sqrt(N), w_j ~ N(0, I_d), and fit the output weights a (N numbers) by
linear least squares in float64, from one SVD of the n x N feature matrix:

- ridgeless: the minimum-norm least-squares solution a = pinv(Phi) y, which is
  the ordinary least-squares fit below the threshold (N < n) and the
  interpolating fit of least norm above it -- the limit of gradient descent
  from zero, and of ridge as the penalty goes to 0;
- ridge: argmin (1/n) |Phi a - y|^2 + `ridge` |a|^2.

Every number is averaged over `draws` independent draws of the features at
that width; the data stay fixed, as in Belkin et al.'s experiments.

The grid leaves out N = n itself. There the feature matrix is square, and
the density of its smallest singular value does not vanish at zero, so the
ridgeless error has no finite mean: over 20 draws it averaged 240 to 17,000
on seeds 0-5 (against 4-6 at the neighbouring widths), and on seed 1 it came
out lower with label noise than without (2,626 against 2,665) -- a number
set by the luckiest draw, not by the data, and a point that any labels would
put on top of the curve. The curve's peak is read at the grid points next to
the threshold, 0.89 n and 1.12 n, where the mean is finite and stable.

Probes, all logged against axis "n_features" (N):

- test_error: ridgeless mean squared error on the test inputs against the
  noiseless teacher (the excess risk; add noise_std**2 for the error against
  noisy labels). The double-descent curve.
- clean_test_error: the same for the ridgeless fit to the training labels
  without their noise (same inputs, same features): the curve without label
  noise, whose peak is only the teacher's unrepresentable part.
- train_error: ridgeless mean squared error on the (noisy) training labels;
  positive below the threshold, zero to rounding error above it.
- coef_norm: Euclidean norm of the ridgeless output weights |a|. It peaks at
  the threshold with test_error: fitting the noise there needs huge weights.
- ridge_test_error, ridge_train_error, ridge_coef_norm: the same for the ridge
  fit. Ridge trades a little training error for a bounded norm; no peak.
- n_train: the number of training points n, logged as a constant so that
  claims can locate the threshold without writing n as a number.
- null_error: the test error of predicting zero everywhere (the teacher's
  mean square on the test inputs, about 1 + nonlinearity^2 (d-1)/(d+2)), a
  constant yardstick.

The default claims (n = final(n_train); measured ranges on seeds 0-19,
docs/phenomena/double-descent.md) and the curve without the phenomenon that
each one fails on:

1. `argmax(test_error) between 0.85 n and 1.15 n` (89 or 112, the grid
   points next to n): the peak is at the interpolation threshold. Fails on a
   monotone decrease (argmax at the smallest width), on the classical U's
   overfitting branch (argmax at the largest width), and on a peak at the
   wrong place (at 0.79 n or 1.26 n already).
2. `max(test_error) >= 6 * final(test_error)` (9.0-17.8x): a tall peak and a
   deep second descent. Fails on a monotone decrease (its maximum is the
   smallest width's, 2.0-3.6x the end here), on a shallow bump, and on a curve
   that stays up past the threshold (the classical U).
3. `first_step(test_error <= 1.3 * final(test_error)) > n` (every width below
   n is 1.54-2.67x worse than the largest): the second descent goes below
   the classical sweet spot (Belkin et al.'s point; Mei & Montanari's
   high-SNR regime). Fails on a classical U, whose best under-parameterised
   width is as good as any, and on a second descent that stays above it.
4. `argmin(test_error) >= 7 * n` (8.9-10 n, the last two grid points): the
   error keeps falling to the widest model (the global minimum at extreme
   over-parameterisation, Mei & Montanari). Fails on a curve that bottoms
   out soon after the peak and rises again, or on a U.
5. `mean(ridge_test_error, 0.85 n, 1.15 n) <= 0.9 * at(ridge_test_error,
   0.5 n)` (0.68-0.81): ridge removes the peak -- the ridge fit's error still
   falls through the threshold. Fails on a peak that the penalty does not
   flatten (here at ridge 1e-4 or less: a shoulder, or a peak half the
   ridgeless one), i.e. a peak not made by the norm of the interpolating fit.
6. `max(test_error) >= 1.3 * max(clean_test_error)` (1.51-2.89x): label
   noise makes the peak taller. Fails on a peak that does not come from
   fitting noise -- one fixed by construction, as tall without label noise
   as with it.
7. `mean(test_error, 0.85 n, 1.15 n) - mean(clean_test_error, 0.85 n, 1.15 n)
   > 5 * (final(test_error) - final(clean_test_error))` (7.0-19.2x): ... because
   the threshold amplifies it: what label noise adds to the error next to the
   threshold is many times what it adds at the widest model (in ratio, label
   noise about doubles the error at both places: the clean curve's peak is
   the teacher's unrepresentable part, amplified the same way). Fails on
   noise that adds the same error at every width, and (strictly greater) on
   curves that label noise does not change at all.

tests/phenomena/test_double_descent.py builds each of these curves from a
real run and checks that the claims named here fail on it.

Not claimed, because linear algebra alone guarantees them for any labels:
that the minimum-norm fit interpolates from N = n on (a generic n x N matrix
has rank min(n, N)), and that |a| peaks at the threshold (1 / the smallest
singular value). train_error and coef_norm stay as probes.

The figures reproduced: Belkin et al.'s Fig. 2 (random Fourier features on
MNIST: test risk peaking at N = n and falling below the classical minimum
past it, the norm of the fit peaking with it, training risk zero from N = n
on), in the random ReLU features model of Mei & Montanari (their Fig. 1:
test error against N/n, ridgeless and with ridge), and the label-noise
dependence of Nakkiran et al.'s model-wise double descent (Fig. 1 left, at
15% label noise; Fig. 4, at 0%, 10% and 20%): without label noise the peak
is lower, with it taller; the wide models are hurt far less.

Seeds 1000-1019, never used while developing, satisfy every claim (the
tightest: claim 5 at 0.82, claim 3 at 1.50, claim 2 at 8.6x).

Knobs for a sweep (one run is a whole curve over N; measured on seeds 0-1):
`n_train` moves the peak (next to N = n: 45, 89/112, 178/224 for n = 50, 100,
200); `noise_std` sets its height and not its place (peaks of 2.3-3.0,
3.1-3.6, 5.0-5.5, 11-14.5 at 0, 0.25, 0.5, 1; at 1 the classical sweet spot
wins on seed 0 and claims 3-4 fail, Mei & Montanari's low-SNR regime);
`ridge` removes it from the ridge_* series (its peak is 5x its value at n/2
at ridge 0, 2x at 1e-5, a shoulder at 1e-4, gone from 1e-3 on); the width
grid is `min_ratio`, `max_ratio`, `n_widths`. A run costs 3-5 s of CPU at
n = 100 (1.5-2 s at n = 50, 10-13 s at n = 200).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from runner.recorder import Log

TITLE = (
    "Double descent in random ReLU features regression: the test error peaks at N = n, "
    "label noise makes the peak, ridge removes it"
)

# The per-width metrics, each averaged over the feature draws, in the order of
# the columns `fit_and_score` returns.
AVERAGED_PROBES = (
    "test_error",
    "clean_test_error",
    "train_error",
    "coef_norm",
    "ridge_test_error",
    "ridge_train_error",
    "ridge_coef_norm",
)


@dataclass
class Config:
    seed: int = 0
    # Training points n; the interpolation threshold is at N = n features.
    n_train: int = 100
    # Fresh test inputs for the test error; enough that its sampling noise is
    # small next to the peak.
    n_test: int = 2000
    # Input dimension d. Mei & Montanari's theory holds n/d and N/d fixed; we
    # chose n/d = 5, where n = 100 points already pin down the linear part of
    # the teacher well enough for a clear second descent (measured).
    input_dim: int = 20
    # Std of the Gaussian label noise (the signal's variance is about 1.2).
    # The peak is this noise, plus the part of the teacher the features cannot
    # represent, amplified by 1/(smallest singular value of Phi).
    noise_std: float = 0.5
    # Weight of the quadratic part of the teacher relative to the linear part:
    # Mei & Montanari's target is linear plus a nonlinear remainder f_NL.
    nonlinearity: float = 0.5
    # Ridge penalty lambda on |a|^2 against the mean squared training error.
    # Measured on seeds 0-8: at 1e-5 a peak half as tall as the ridgeless one
    # is left at N = n, at 1e-4 a flat shoulder, from 1e-3 on none; 1e-3 is
    # about the best penalty at the largest width, 1e-2 over-smooths.
    ridge: float = 1e-3
    # The width grid: n_widths values of N/n, log-spaced from min_ratio to
    # max_ratio, without N = n itself (see the docstring: the square feature
    # matrix is singular and its error has no mean). With 41 ratios from 0.1
    # to 10 the neighbours of the threshold are N = 0.89 n and 1.12 n.
    min_ratio: float = 0.1
    max_ratio: float = 10.0
    n_widths: int = 41
    # Independent feature draws averaged at each width, for a smooth curve.
    draws: int = 20


# The default n = 100 with 3 draws and 500 test points: 0.4 s of CPU. Every
# claim holds on seeds 0 and 2-5 (seed 1 fails 5-7: 3 draws are noisy);
# smaller n puts n/d too low for the second descent to beat the classical U.
QUICK = {"n_test": 500, "draws": 3}

_N = "final(n_train)"
# The two grid points next to the threshold (0.89 n and 1.12 n by default).
_NEAR = f"0.85 * {_N}, 1.15 * {_N}"
# Measured ranges on seeds 0-19; the docstring says what each claim rules out.
# Series a reader sees in one panel: the peak with and without ridge, and clean.
GROUPS = [["test_error", "ridge_test_error", "clean_test_error"],
          ["train_error", "ridge_train_error"], ["coef_norm", "ridge_coef_norm"]]

# Trained together, seeds run 0.57x as fast as one by one (SVD-bound; benchmarks/verify.py):
# a verification runs them in parallel sandboxes instead.
BATCHING_PAYS = False

CLAIMS = [
    # 1. The peak is at the interpolation threshold: on a grid point next to
    # N = n (89 or 112 on every seed).
    f"argmax(test_error) between 0.85 * {_N} and 1.15 * {_N}",
    # 2. A tall peak and a deep second descent (9.0-17.8x).
    "max(test_error) >= 6 * final(test_error)",
    # 3. The second descent goes below the classical U's best: every width
    # under n is at least 1.3x worse than the largest (1.54-2.67x).
    f"first_step(test_error <= 1.3 * final(test_error)) > {_N}",
    # 4. ... and keeps going: the best width is far past the threshold
    # (8.9 n or 10 n, the last two widths).
    f"argmin(test_error) >= 7 * {_N}",
    # 5. Ridge removes the peak: its error still falls through the threshold
    # (0.68-0.81 of its value at n/2).
    f"mean(ridge_test_error, {_NEAR}) <= 0.9 * at(ridge_test_error, 0.5 * {_N})",
    # 6. Label noise makes the peak taller (1.51-2.89x the peak without it) ...
    "max(test_error) >= 1.3 * max(clean_test_error)",
    # 7. ... because the threshold amplifies it: what it adds next to the
    # threshold is > 5x what it adds at the largest width (7.0-19.2x).
    f"mean(test_error, {_NEAR}) - mean(clean_test_error, {_NEAR}) "
    "> 5 * (final(test_error) - final(clean_test_error))",
]


def width_grid(config: Config) -> list[int]:
    """Widths N: log-spaced multiples of n_train, without N = n_train itself."""
    n = config.n_train
    if config.n_widths < 2:
        ratios = [config.min_ratio]
    else:
        step = math.log(config.max_ratio / config.min_ratio) / (config.n_widths - 1)
        ratios = [config.min_ratio * math.exp(i * step) for i in range(config.n_widths)]
    widths = sorted({max(1, round(r * n)) for r in ratios} - {n})
    if not widths:
        raise ValueError(f"the width grid has no width other than n_train = {n}; "
                         "widen min_ratio..max_ratio or raise n_widths")
    return widths


def sphere(count: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """`count` points uniform on the sphere of radius sqrt(dim)."""
    x = torch.randn(count, dim, generator=generator, dtype=torch.float64)
    return x * math.sqrt(dim) / x.norm(dim=1, keepdim=True)


def teacher(x: torch.Tensor, linear: torch.Tensor, quadratic: torch.Tensor, weight: float):
    """Linear plus a second Hermite polynomial in one direction.

    On the sphere of radius sqrt(d) the linear part has variance 1 and the
    quadratic part (d - 1) / (d + 2) (0.86 at d = 20; 1 for Gaussian inputs).
    """
    along = x @ quadratic
    return x @ linear + weight * (along**2 - 1) / math.sqrt(2)


def relu_features(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """phi_j(x) = relu(w_j . x / sqrt(d)) / sqrt(N): the kernel limit is N-independent.

    x is (..., points, d) and weights (..., d, N); the scale goes on the
    weights (d x N numbers) rather than on the features (ReLU is positively
    homogeneous)."""
    d, n_features = weights.shape[-2:]
    return torch.relu_(x @ (weights / math.sqrt(d * n_features)))


def fit(phi: torch.Tensor, labels: torch.Tensor, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Output weights for each column of `labels` from one thin SVD of `phi`:
    (minimum-norm least squares, ridge), each (..., N, columns).

    phi is (..., n, N) and labels (..., n, columns). Singular values below the
    LAPACK pseudo-inverse cutoff (max(n, N) * eps * s_max) count as zero, as
    numpy.linalg.pinv does.
    """
    n = phi.shape[-2]
    u, s, vh = torch.linalg.svd(phi, full_matrices=False)
    projected = u.mT @ labels
    cutoff = max(phi.shape[-2:]) * torch.finfo(phi.dtype).eps * s[..., :1]
    inverse = torch.where(s > cutoff, 1.0 / s, torch.zeros_like(s))
    ridgeless = vh.mT @ (inverse.unsqueeze(-1) * projected)
    ridged = vh.mT @ ((s / (s**2 + n * ridge)).unsqueeze(-1) * projected)
    return ridgeless, ridged


@dataclass
class Problem:
    """One seed's teacher, training set (noisy and clean labels) and test set."""

    generator: torch.Generator
    x_train: torch.Tensor
    labels: torch.Tensor  # (n, 2): the noisy labels, then the clean ones
    x_test: torch.Tensor
    y_test: torch.Tensor  # the noiseless teacher on the test inputs

    @classmethod
    def draw(cls, config: Config, seed: int) -> Problem:
        generator = torch.Generator().manual_seed(seed)
        d = config.input_dim
        linear = torch.randn(d, generator=generator, dtype=torch.float64)
        linear /= linear.norm()
        quadratic = torch.randn(d, generator=generator, dtype=torch.float64)
        quadratic /= quadratic.norm()
        x_train = sphere(config.n_train, d, generator)
        x_test = sphere(config.n_test, d, generator)
        clean = teacher(x_train, linear, quadratic, config.nonlinearity)
        noise = torch.randn(config.n_train, generator=generator, dtype=torch.float64)
        labels = torch.stack([clean + config.noise_std * noise, clean], dim=1)
        y_test = teacher(x_test, linear, quadratic, config.nonlinearity)
        return cls(generator, x_train, labels, x_test, y_test)


def fit_and_score(problems: Sequence[Problem], weights: torch.Tensor, ridge: float) -> torch.Tensor:
    """Fit one feature draw per problem (weights: seeds x d x N); the AVERAGED_PROBES
    of each, as a (seeds, probes) tensor."""
    x_train = torch.stack([p.x_train for p in problems])
    labels = torch.stack([p.labels for p in problems])
    phi_train = relu_features(x_train, weights)
    ridgeless, ridged = fit(phi_train, labels, ridge)
    # Columns: ridgeless on noisy labels, ridgeless on clean labels, ridge on noisy labels.
    coefs = torch.cat([ridgeless, ridged[..., :1]], dim=-1)
    phi_test = relu_features(torch.stack([p.x_test for p in problems]), weights)
    y_test = torch.stack([p.y_test for p in problems]).unsqueeze(-1)
    test = ((phi_test @ coefs - y_test) ** 2).mean(dim=1)
    del phi_test
    noisy = labels[..., :1]
    train = ((phi_train @ coefs[..., ::2] - noisy) ** 2).mean(dim=1)
    norms = coefs[..., ::2].norm(dim=1)
    return torch.stack([test[:, 0], test[:, 1], train[:, 0], norms[:, 0],
                        test[:, 2], train[:, 1], norms[:, 1]], dim=1)


def run_batch(config: Config, seeds: list[int], logs: list) -> None:
    """Every seed at once: the feature draws of all seeds at one width are stacked
    and fitted together; seed i's numbers come from its own generator, in the
    order `run` draws them."""
    problems = [Problem.draw(config, seed) for seed in seeds]
    null_errors = [float((p.y_test**2).mean()) for p in problems]
    d = config.input_dim
    widths = width_grid(config)
    total, done = sum(widths), 0
    for n_features in widths:
        sums = torch.zeros(len(problems), len(AVERAGED_PROBES), dtype=torch.float64)
        for _ in range(config.draws):
            weights = torch.stack([
                torch.randn(d, n_features, generator=p.generator, dtype=torch.float64)
                for p in problems
            ])
            sums += fit_and_score(problems, weights, config.ridge)
        means = (sums / config.draws).tolist()
        done += n_features
        for log, null_error, values in zip(logs, null_errors, means):
            log(n_features, axis="n_features", n_train=config.n_train, null_error=null_error,
                **dict(zip(AVERAGED_PROBES, values)))
            log.progress(done, total)


def run(config: Config, log: Log) -> None:
    run_batch(config, [config.seed], [log])
