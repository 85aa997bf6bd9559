"""Feature learning seen through nonlinear neurons: collapse, plateau at the linear fit, regrowth.

Liu, Zheng & Qu (2026, "Physics of Feature Learning 1 -- A Perspective from
Nonlinearity", the first post of the "Physics of AI" blog,
https://kindxiaoming.github.io/blog/2026/feature-learning-1) asked whether the
three-stage feature learning that Tian (2025, "Provable scaling laws of
feature emergence from learning dynamics of grokking", arXiv:2509.21519)
describes for grokking shows up in plain regression, and chose an observable
that ignores what a feature is and only asks whether it is nonlinear: the
number of *nonlinear neurons*. A ReLU neuron is nonlinear on a data set if it
is active on some inputs and inactive on others; a neuron active on every
input is *linear* (always on: it passes an affine function of the layer
below), and one active on none is *dead*.

The experiment (the blog's setup). A [10, 100, 100, 1] ReLU MLP is fit with
full-batch Adam (learning rate 1e-3) and mean squared error to

    y = sum_{i=1}^{10} sin^2(10 x_i),    x ~ N(0, I_10),  500 training points.

The target oscillates far faster than the data are spaced, so no linear
function of x explains it: the best linear fit is hardly better than the
mean (its loss is about Var y = 10/8). The network can only get below that
by building nonlinear features -- here, features that memorise the 500
points. The blog finds that every first-layer neuron stays nonlinear
throughout, while the count in the second layer goes through four phases.
Measured here (seeds 0-17):

1. collapse: while the network fits the mean of y (the loss falls from ~26 to
   ~2 in the first ~50 steps), most second-layer neurons become dead or
   always on; the nonlinear count falls from 100 to about a quarter;
2. plateau: the network behaves almost like a linear model; the loss creeps
   down towards the linear-regression loss, and the count stays low;
3. growth: the count climbs again while the loss falls far below the linear
   fit -- nonlinear features are being learned;
4. saturation: the count settles and the training loss goes to ~0.

Probes. Every `log_every` steps, under no_grad:

- train_loss, test_loss: mean squared error on the 500 training points and on
  `n_test` fresh points from the same distribution. The test loss ends above
  the linear fit's: what is learned here is memorisation, not the function.
- nonlinear_l1, dead_l1, always_on_l1; nonlinear_l2, dead_l2, always_on_l2:
  the number of neurons in hidden layer 1 / 2 that are nonlinear (active on
  some but not all training inputs), dead (active on none) and always on
  (active on all). The three add up to the width.

Every `probe_every` steps:

- probe_r2_l1, probe_r2_l2: R^2 on the training points of the least-squares
  affine readout of y from the post-ReLU activations of hidden layer 1 / 2:
  how much of the target is linearly decodable from that layer. The network's
  own output is such a readout of layer 2, so probe_r2_l2 >= 1 - train_loss /
  Var(y). With 100 features and 500 points, a readout of random features
  already fits part of any target (about 100/500 of it by chance).

At the first and last step:

- linreg_loss, linreg_test_loss: the train / test loss of the least-squares
  affine fit of y on x, a constant yardstick for claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

TITLE = "Feature learning in a ReLU MLP: nonlinear neurons collapse, plateau at the linear fit, then regrow"


@dataclass
class Config:
    seed: int = 0
    # The target sum_i sin^2(frequency * x_i) and the [10, 100, 100, 1] MLP:
    # all from the blog's setup.
    input_dim: int = 10
    frequency: float = 10.0
    hidden: int = 100
    # Training points, standard Gaussian inputs (blog).
    n_train: int = 500
    # Fresh points for test_loss. Not in the blog; enough for a steady estimate.
    n_test: int = 500
    # Full-batch Adam at the blog's learning rate. The phases depend on it
    # (seed 0): at 3e-3 the count falls to 3 before regrowing; at 3e-4 it
    # falls only to ~46 and never regrows, though the loss still goes to ~0.
    lr: float = 1e-3
    # Measured on seeds 0-17: the nonlinear count settles by ~1500 steps and by
    # 3000 the training loss is below 2e-4 of the linear fit's: all phases.
    steps: int = 3000
    # Measured: the collapse happens within the first ~50 steps, so losses and
    # neuron counts are logged every 5 steps to resolve it.
    log_every: int = 5
    # A linear probe is one least-squares solve per layer; every 25 steps is
    # enough to follow it and keeps it a small part of the cost.
    probe_every: int = 25


QUICK = {"steps": 200, "log_every": 10, "probe_every": 50}

# Thresholds come from seeds 0-17 of the default config (the measured range
# or worst case is in each comment); docs/phenomena/feature-learning.md has
# the per-seed table.
CLAIMS = [
    # 1. Collapse: most second-layer neurons stop being nonlinear (min/initial
    # 0.14-0.25) ...
    "min(nonlinear_l2) <= 0.4 * initial(nonlinear_l2)",
    # ... and they do so early, while the network fits the mean of y (step 30-35).
    "first_step(nonlinear_l2 <= 0.4 * initial(nonlinear_l2)) <= 100",
    # 2. Plateau: falling from 2x to 1x the linear-regression loss takes much
    # longer than falling from the initial loss to 2x (ratio of steps >= 4.9) ...
    "first_step(train_loss <= final(linreg_loss)) >= 4 * first_step(train_loss <= 2 * final(linreg_loss))",
    # ... and meanwhile the nonlinear count stays low (mean <= 0.28 of initial).
    "mean(nonlinear_l2, first_step(train_loss <= 2 * final(linreg_loss)), first_step(train_loss <= final(linreg_loss))) <= 0.35 * initial(nonlinear_l2)",
    # At the end of the plateau the second layer is still a poor basis for y:
    # a linear probe explains <= 0.29 of its variance (chance is ~0.2).
    "at(probe_r2_l2, first_step(train_loss <= final(linreg_loss))) <= 0.35",
    # 3. Growth: the count comes back (final/min >= 2.2) ...
    "final(nonlinear_l2) >= 1.8 * min(nonlinear_l2)",
    # ... after its minimum, which comes before the loss halves the linear fit.
    "argmin(nonlinear_l2) < first_step(train_loss <= 0.5 * final(linreg_loss))",
    # ... and the loss ends far below anything linear (ratio <= 2e-4).
    "final(train_loss) <= 0.01 * final(linreg_loss)",
    # The first layer stays nonlinear throughout (blog), yet its features
    # change: its linear probe at least doubles (ratio >= 2.5).
    "min(nonlinear_l1) >= 0.95 * initial(nonlinear_l1)",
    "final(probe_r2_l1) >= 2 * initial(probe_r2_l1)",
    # What is learned is memorisation: the test loss ends well above the linear
    # fit's (ratio >= 1.8).
    "final(test_loss) >= 1.5 * final(linreg_test_loss)",
]


class MLP(torch.nn.Module):
    """[input_dim, hidden, hidden, 1] ReLU MLP that also returns its pre-activations."""

    def __init__(self, input_dim: int, hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(
            [
                torch.nn.Linear(input_dim, hidden),
                torch.nn.Linear(hidden, hidden),
                torch.nn.Linear(hidden, 1),
            ]
        )
        # PyTorch's default nn.Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        # for weights and biases (what the blog used), drawn from our generator.
        with torch.no_grad():
            for layer in self.layers:
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output and the pre-activations of both hidden layers."""
        pre_activations = []
        for layer in self.layers[:-1]:
            x = layer(x)
            pre_activations.append(x)
            x = torch.relu(x)
        return self.layers[-1](x), pre_activations


def target(x: torch.Tensor, frequency: float) -> torch.Tensor:
    """y = sum_i sin^2(frequency * x_i), as a column."""
    return torch.sin(frequency * x).pow(2).sum(dim=1, keepdim=True)


def classify_neurons(pre_activation: torch.Tensor) -> dict[str, int]:
    """Count dead, always-on and nonlinear ReLU neurons over the rows (inputs) given.

    A neuron is active on an input when its pre-activation is > 0 (ReLU passes
    it). Dead: active on no input. Always on: active on every input, so on
    this data it is an affine map of the layer below. Nonlinear: the rest.
    """
    inputs_active = (pre_activation > 0).sum(dim=0)
    dead = int((inputs_active == 0).sum())
    always_on = int((inputs_active == pre_activation.shape[0]).sum())
    return {
        "dead": dead,
        "always_on": always_on,
        "nonlinear": pre_activation.shape[1] - dead - always_on,
    }


def with_bias(features: torch.Tensor) -> torch.Tensor:
    """The features in float64 with a column of ones appended (for an affine readout)."""
    features = features.double()
    return torch.cat([features, torch.ones(features.shape[0], 1, dtype=features.dtype)], dim=1)


def fit_affine(features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients (bias last) of the affine readout of y from `features`.

    Float64 and an SVD-based solver, so dead (all-zero) or duplicate columns
    are harmless: they get the minimum-norm share.
    """
    return torch.linalg.lstsq(with_bias(features), y.double(), driver="gelsd").solution


def affine_error(features: torch.Tensor, y: torch.Tensor, coefficients: torch.Tensor) -> float:
    """Mean squared error of the affine readout `coefficients` on (features, y)."""
    return float((with_bias(features) @ coefficients - y.double()).pow(2).mean())


def run(config: Config, log) -> None:
    generator = torch.Generator().manual_seed(config.seed)
    x_train = torch.randn(config.n_train, config.input_dim, generator=generator)
    x_test = torch.randn(config.n_test, config.input_dim, generator=generator)
    y_train = target(x_train, config.frequency)
    y_test = target(x_test, config.frequency)
    model = MLP(config.input_dim, config.hidden, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    # The best any linear model of x can do: the yardstick for the plateau.
    linreg = fit_affine(x_train, y_train)
    linreg_loss = affine_error(x_train, y_train, linreg)
    linreg_test_loss = affine_error(x_test, y_test, linreg)
    y_variance = float(y_train.double().var(unbiased=False))

    for step in range(config.steps + 1):
        last = step == config.steps
        log_now = step % config.log_every == 0 or last
        probe_now = step % config.probe_every == 0 or last
        if log_now or probe_now:
            with torch.no_grad():
                output, pre_activations = model(x_train)
                test_output, _ = model(x_test)
        if log_now:
            counts = {}
            for layer, pre in enumerate(pre_activations, start=1):
                for kind, count in classify_neurons(pre).items():
                    counts[f"{kind}_l{layer}"] = count
            log(
                step,
                train_loss=(output - y_train).pow(2).mean(),
                test_loss=(test_output - y_test).pow(2).mean(),
                **counts,
            )
        if probe_now:
            probes = {}
            for layer, pre in enumerate(pre_activations, start=1):
                features = torch.relu(pre)
                probe = fit_affine(features, y_train)
                probes[f"probe_r2_l{layer}"] = 1 - affine_error(features, y_train, probe) / y_variance
            log(step, **probes)
        if step == 0 or last:
            log(step, linreg_loss=linreg_loss, linreg_test_loss=linreg_test_loss)
        if last:
            break
        output, _ = model(x_train)
        loss = (output - y_train).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
