"""Double descent: test error peaks where the number of features equals the training set size.

Classical statistics says test error is U-shaped in model size: too few
parameters underfit, too many overfit. Belkin, Hsu, Ma & Mandal (2019,
"Reconciling modern machine-learning practice and the classical bias-variance
trade-off", PNAS 116:15849) showed that the U is only the left half of the
picture. Keep growing a random-features model past the *interpolation
threshold* -- the width N at which it can first fit the n training points
exactly -- and, with the minimum-norm interpolating fit, test error comes down
again, often below the classical sweet spot. Mei & Montanari (2019, "The
generalization error of random features regression: precise asymptotics and
double descent curve", CPAM 2022) computed the curve exactly for random ReLU
features on the sphere: the peak sits at N = n, it is caused by the smallest
singular value of the feature matrix going to zero there, which blows up the
norm of the fitted coefficients, and a large enough ridge penalty removes
it. Nakkiran et al. (2019, "Deep double descent", ICLR 2020) found the same
shape in deep networks trained by SGD, in width and in epochs.

The experiment. Inputs x are uniform on the sphere of radius sqrt(d) in d
dimensions; the target is a fixed random teacher, a linear part plus a
quadratic part (so that it is not exactly a random-features function),
observed with Gaussian label noise. One training set of n points and one
test set are drawn. For each width N on a log grid of N/n from
`min_ratio` to `max_ratio` (always containing N = n), we draw N random ReLU
features phi_j(x) = relu(w_j . x / sqrt(d)) / sqrt(N), w_j ~ N(0, I_d), and
fit the output weights a (N numbers) by linear least squares in float64:

- ridgeless: the minimum-norm least-squares solution a = pinv(Phi) y, which is
  the ordinary least-squares fit below the threshold (N < n) and the
  interpolating fit of least norm above it -- the limit of gradient descent
  from zero, and of ridge as the penalty goes to 0;
- ridge: argmin (1/n) |Phi a - y|^2 + `ridge` |a|^2.

Both come from one SVD of the n x N feature matrix. Every number is averaged
over `draws` independent draws of the features at that width; the data stay
fixed, as in Belkin et al.'s random Fourier features experiments. Exactly at
N = n the feature matrix is square and its smallest singular value can be
arbitrarily small, so the ridgeless error there is heavy-tailed: the height of
the peak varies by orders of magnitude from seed to seed; its place does not.

Probes, all logged against axis "n_features" (N):

- test_error: ridgeless mean squared error on the test inputs against the
  noiseless teacher (the excess risk; add noise_std**2 for the error against
  noisy labels). The double-descent curve.
- train_error: ridgeless mean squared error on the (noisy) training labels;
  positive below the threshold, zero to rounding error at and above it.
- coef_norm: Euclidean norm of the ridgeless output weights |a|. It peaks at
  the threshold with test_error: fitting the noise there needs huge weights.
- ridge_test_error, ridge_train_error, ridge_coef_norm: the same for the ridge
  fit. Ridge trades a little training error for a bounded norm; no peak.
- n_train: the number of training points n, logged as a constant so that
  claims can locate the threshold without writing n as a number.
- null_error: the test error of predicting zero everywhere (the teacher's
  mean square on the test inputs, about 1 + nonlinearity^2 (d-1)/(d+2)), a
  constant yardstick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from runner.recorder import Log

TITLE = "Double descent in random ReLU features regression: test error peaks at N = n"

# The per-width metrics, each averaged over the feature draws.
AVERAGED_PROBES = (
    "test_error",
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
    # Measured on seed 0: 1e-4 leaves a bump at N = n, 1e-3 removes it and is
    # about the best penalty at the largest width, 1e-2 over-smooths.
    ridge: float = 1e-3
    # The width grid: n_widths values of N/n, log-spaced from min_ratio to
    # max_ratio. With an odd count and max_ratio = 1/min_ratio the middle
    # point is N = n exactly; 1 is added to the grid in any case.
    min_ratio: float = 0.1
    max_ratio: float = 10.0
    # 41 points put the neighbours of N = n at 0.89 n and 1.12 n, inside the
    # 0.8 n .. 1.25 n window the claims allow for the peak.
    n_widths: int = 41
    # Independent feature draws averaged at each width, for a smooth curve.
    draws: int = 20


QUICK = {"n_train": 40, "n_test": 200, "n_widths": 9, "draws": 2}

CLAIMS = [
    # The peak is at the interpolation threshold N = n ...
    "argmax(test_error) between 0.8 * final(n_train) and 1.25 * final(n_train)",
    # ... and so is the peak of the norm of the fitted weights.
    "argmax(coef_norm) between 0.8 * final(n_train) and 1.25 * final(n_train)",
    # Second descent: at the largest width the error is far below the peak
    # (measured ratio 600 to 5e4 over seeds 0-5) ...
    "max(test_error) >= 20 * final(test_error)",
    # ... and the best width on the grid is over-parameterised, past the
    # classical sweet spot (Belkin et al. Fig. 1).
    "argmin(test_error) > 1.25 * final(n_train)",
    # The threshold is where the min-norm fit starts to interpolate ...
    "first_step(train_error < 1e-12) == final(n_train)",
    # ... and it keeps interpolating beyond it.
    "mean(train_error, final(n_train), 1e12) < 1e-12",
    # Ridge flattens the peak (measured ratio <= 0.005 over seeds 0-5) ...
    "max(ridge_test_error) <= 0.1 * max(test_error)",
    # ... to nothing: the ridge curve is still descending through N = n.
    "at(ridge_test_error, final(n_train)) < at(ridge_test_error, 0.5 * final(n_train))",
]


def width_grid(config: Config) -> list[int]:
    """Widths N: log-spaced multiples of n_train, with N = n_train included."""
    n = config.n_train
    if config.n_widths < 2:
        ratios = [1.0]
    else:
        step = math.log(config.max_ratio / config.min_ratio) / (config.n_widths - 1)
        ratios = [config.min_ratio * math.exp(i * step) for i in range(config.n_widths)]
    widths = {max(1, round(r * n)) for r in ratios} | {n}
    return sorted(widths)


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
    """phi_j(x) = relu(w_j . x / sqrt(d)) / sqrt(N): the kernel limit is N-independent."""
    d, n_features = weights.shape
    return torch.relu(x @ weights / math.sqrt(d)) / math.sqrt(n_features)


def fit(phi: torch.Tensor, y: torch.Tensor, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Output weights (minimum-norm least squares, ridge) from one thin SVD of `phi`.

    Singular values below the LAPACK pseudo-inverse cutoff (max(n, N) * eps *
    s_max) count as zero, as numpy.linalg.pinv does; exactly at N = n the
    matrix is square and almost surely invertible, so nothing is cut there.
    """
    n = phi.shape[0]
    u, s, vh = torch.linalg.svd(phi, full_matrices=False)
    projected = u.T @ y
    cutoff = max(phi.shape) * torch.finfo(phi.dtype).eps * s[0]
    inverse = torch.where(s > cutoff, 1.0 / s, torch.zeros_like(s))
    ridgeless = vh.T @ (inverse * projected)
    ridged = vh.T @ (s / (s**2 + n * ridge) * projected)
    return ridgeless, ridged


def run(config: Config, log: Log) -> None:
    generator = torch.Generator().manual_seed(config.seed)
    d = config.input_dim

    # The teacher's two directions, and the fixed train and test sets.
    linear = torch.randn(d, generator=generator, dtype=torch.float64)
    linear /= linear.norm()
    quadratic = torch.randn(d, generator=generator, dtype=torch.float64)
    quadratic /= quadratic.norm()
    x_train = sphere(config.n_train, d, generator)
    x_test = sphere(config.n_test, d, generator)
    clean_train = teacher(x_train, linear, quadratic, config.nonlinearity)
    noise = torch.randn(config.n_train, generator=generator, dtype=torch.float64)
    y_train = clean_train + config.noise_std * noise
    y_test = teacher(x_test, linear, quadratic, config.nonlinearity)
    null_error = float((y_test**2).mean())

    for n_features in width_grid(config):
        totals = dict.fromkeys(AVERAGED_PROBES, 0.0)
        for _ in range(config.draws):
            weights = torch.randn(d, n_features, generator=generator, dtype=torch.float64)
            phi_train = relu_features(x_train, weights)
            phi_test = relu_features(x_test, weights)
            ridgeless, ridged = fit(phi_train, y_train, config.ridge)
            for prefix, coef in (("", ridgeless), ("ridge_", ridged)):
                totals[prefix + "test_error"] += float(((phi_test @ coef - y_test) ** 2).mean())
                totals[prefix + "train_error"] += float(((phi_train @ coef - y_train) ** 2).mean())
                totals[prefix + "coef_norm"] += float(coef.norm())
        means = {name: total / config.draws for name, total in totals.items()}
        log(n_features, axis="n_features", n_train=config.n_train, null_error=null_error, **means)
