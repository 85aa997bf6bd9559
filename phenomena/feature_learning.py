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
throughout, while the count in the second layer goes through four phases
(its first figure, loss and nonlinear count against the step; its phase
boundaries are ~50, ~500 and ~1500 steps). Measured here (seeds 0-19):

1. collapse: while the network fits the mean of y (the loss falls from ~20x
   the linear fit's to 2x it in the first 30-60 steps), most second-layer
   neurons become dead or always on; the nonlinear count falls from ~100 to
   14-25 (the blog: ~14);
2. plateau: the network behaves almost like a linear model; the loss creeps
   down to the linear-regression loss, which it reaches at step 245-360 (the
   blog's second figure: "the loss plateau corresponds closely to the
   solution of linear regression"), and the count stays low;
3. growth: the count climbs again while the loss falls far below the linear
   fit -- nonlinear features are being learned;
4. saturation: the count settles (by the step where the loss is 1% of the
   linear fit's, 1220-1635, it is within 10% of its final value) and the
   training loss goes to ~0 (its minimum is 1e-9 to 1e-6 of the linear
   fit's).

The default claims, what each rules out, and its range on seeds 0-19 of the
default config (thresholds sit just outside that range). Here initial, min
and final are those of nonlinear_l2 unless said otherwise, "linear fit" is
linreg_loss, and the plateau runs from the first step where train_loss <= 2x
the linear fit to the first step where it is <= 1x.

- Collapse, `min <= 0.3 * initial` (0.14-0.25). Fails for a count that
  does not collapse: at lr 3e-4 it falls only to ~0.46 (and never regrows).
- Collapse early, `first_step(nonlinear_l2 <= 0.4 * initial) <= 50`
  (step 30-35; the blog's phase I is the first ~50 steps). Fails for a
  gradual decline that reaches the same minimum during the plateau.
- Plateau, end >= 4x start (4.9-9.7): reaching the linear fit from 2x it
  takes at least three times as long as reaching 2x from the initial loss.
  Fails for a loss that falls straight through the linear fit (at frequency
  1, where a linear model explains part of y, it is below it by step 30).
- Plateau count low, its mean over the plateau <= 0.35 * initial
  (0.16-0.28). Fails for a collapse that is undone at once (the count
  regrowing while the loss still sits near the linear fit).
- Plateau without features, layer 2's probe R^2 at the plateau's end <= 0.35
  (0.17-0.29; 0.14-0.24 at initialisation, ~1 at the end). Fails if the
  features that beat the linear fit were already there during the plateau,
  i.e. if the plateau were a slow readout of good features.
- Growth, `final >= 1.8 * min` (2.1-5.3). Fails for a count that stays
  collapsed.
- Growth with the fall below linear, `argmin < 0.7 * first_step(train_loss
  <= 0.5 * linear fit)` (the step where the loss halves the linear fit is
  1.7-16x the argmin). Fails for a count that is still falling, or only
  starts to grow, once the loss is already well below the linear fit.
- Saturation, the count at the first step where the loss is 1% of the linear
  fit >= 0.85 * final (0.90-1.03): the last hundredfold fall of the loss
  comes with a settled count (the blog's phase IV). Fails for a count that
  keeps climbing to the end (a steady rise over the run gives ~0.6).
- Convergence, `min(train_loss) <= 1e-5 * linear fit` (8.5e-10 to 8.4e-7).
  Fails for a loss that stalls below the linear fit without going to ~0 (at
  n_train 2000, 0.09x the linear fit at step 3000). The minimum, not the
  final value: Adam's spikes near zero loss put the last point anywhere from
  5e-9 to 2.9e-4 of it.
- Layer 1 stays nonlinear, `min(nonlinear_l1) >= 0.95 * initial` (1.0 on
  every seed: no first-layer neuron ever dies or stays always on). Fails if
  the collapse were a property of every layer rather than of the second.
- Layer 1 still learns, `final(probe_r2_l1) >= 2 * initial(probe_r2_l1)`
  (2.4-5.3). Fails for a lazy first layer whose features stay at their
  random initialisation (R^2 ~0.2, what 100 random features fit of 500
  points).
- Memorisation, `final(test_loss) >= 1.6 * linreg_test_loss` (1.8-2.8). Not
  the blog's claim but a property of its setup: the features learned fit
  the 500 points, not sin^2. Fails if the network learned the function (at
  frequency 1 it generalises better than the linear fit).

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

import itertools
import math
from collections.abc import Sequence
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
    # Measured on seeds 0-19: the loss is at 1% of the linear fit's by step
    # 1220-1635 (the count has settled) and at 1e-4 of it by 1860-2270: 3000
    # covers all four phases.
    steps: int = 3000
    # Measured: the collapse happens within the first ~50 steps, so losses and
    # neuron counts are logged every 5 steps to resolve it.
    log_every: int = 5
    # A linear probe is one least-squares solve per layer; every 25 steps is
    # enough to follow it and keeps it a small part of the cost.
    probe_every: int = 25


QUICK = {"steps": 200, "log_every": 10, "probe_every": 50}

# Thresholds come from seeds 0-19 of the default config (the measured range
# is in each comment and, with what each claim rules out, in the docstring);
# docs/phenomena/feature-learning.md has the per-seed values.
PLATEAU_START = "first_step(train_loss <= 2 * final(linreg_loss))"
PLATEAU_END = "first_step(train_loss <= final(linreg_loss))"
CLAIMS = [
    # Phase I, collapse: most second-layer neurons stop being nonlinear
    # (min/initial 0.14-0.25; the blog: ~14 of 100) ...
    "min(nonlinear_l2) <= 0.3 * initial(nonlinear_l2)",
    # ... within the blog's first ~50 steps (step 30-35).
    "first_step(nonlinear_l2 <= 0.4 * initial(nonlinear_l2)) <= 50",
    # Phase II, plateau at the linear fit: from 2x to 1x the linear-regression
    # loss takes far longer than from the initial loss to 2x (ratio 4.9-9.7) ...
    f"{PLATEAU_END} >= 4 * {PLATEAU_START}",
    # ... the nonlinear count stays low meanwhile (mean/initial 0.16-0.28) ...
    f"mean(nonlinear_l2, {PLATEAU_START}, {PLATEAU_END}) <= 0.35 * initial(nonlinear_l2)",
    # ... and layer 2 is still no basis for y at its end (probe R^2 0.17-0.29).
    f"at(probe_r2_l2, {PLATEAU_END}) <= 0.35",
    # Phase III, growth: the count comes back (final/min 2.1-5.3) ...
    "final(nonlinear_l2) >= 1.8 * min(nonlinear_l2)",
    # ... from a minimum reached well before the loss halves the linear fit
    # (that step is 1.7-16x the argmin).
    "argmin(nonlinear_l2) < 0.7 * first_step(train_loss <= 0.5 * final(linreg_loss))",
    # Phase IV, saturation: the count has settled by the time the loss is 1%
    # of the linear fit (0.90-1.03 of its final value) ...
    "at(nonlinear_l2, first_step(train_loss <= 0.01 * final(linreg_loss))) >= 0.85 * final(nonlinear_l2)",
    # ... and the loss goes to ~0 (min/linear fit 8.5e-10 to 8.4e-7).
    "min(train_loss) <= 1e-5 * final(linreg_loss)",
    # The first layer stays nonlinear throughout (blog; 1.0 on every seed) ...
    "min(nonlinear_l1) >= 0.95 * initial(nonlinear_l1)",
    # ... yet its features change: its linear probe at least doubles (2.4-5.3).
    "final(probe_r2_l1) >= 2 * initial(probe_r2_l1)",
    # What is learned is memorisation: the test loss ends well above the
    # linear fit's (ratio 1.8-2.8).
    "final(test_loss) >= 1.6 * final(linreg_test_loss)",
]


class MLPStack:
    """[input_dim, hidden, hidden, 1] ReLU MLPs, one per seed, as stacked weights.

    Layer l's weight is (seeds, fan_in, fan_out) and its bias (seeds, 1,
    fan_out); inputs are (seeds, n, input_dim). Each seed's network starts as
    PyTorch's default nn.Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
    weights and biases (what the blog used), drawn from that seed's generator
    in nn.Linear's order and layout, so it is the same alone or in a batch.
    """

    def __init__(self, input_dim: int, hidden: int, generators: Sequence[torch.Generator]) -> None:
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for fan_in, fan_out in itertools.pairwise([input_dim, hidden, hidden, 1]):
            bound = 1.0 / math.sqrt(fan_in)
            weights, biases = [], []
            for generator in generators:
                weights.append(torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=generator).T)
                biases.append(torch.empty(1, fan_out).uniform_(-bound, bound, generator=generator))
            self.weights.append(torch.stack(weights).requires_grad_())
            self.biases.append(torch.stack(biases).requires_grad_())

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The outputs (seeds, n, 1) and the pre-activations of both hidden layers."""
        pre_activations = []
        for weight, bias in zip(self.weights[:-1], self.biases[:-1]):
            x = torch.baddbmm(bias, x, weight)
            pre_activations.append(x)
            x = torch.relu(x)
        # The readout as a dot product, not a one-column batched matmul: bmm
        # rounds one-column products differently with the number of seeds
        # stacked (measured: 1 ulp at the first step), and the plateau's
        # escape amplifies that past 1e-4 within ~300 steps. The dot product
        # keeps each seed's arithmetic the same alone and in a batch.
        readout = (x * self.weights[-1].transpose(1, 2)).sum(dim=-1, keepdim=True)
        return readout + self.biases[-1], pre_activations


def target(x: torch.Tensor, frequency: float) -> torch.Tensor:
    """y = sum_i sin^2(frequency * x_i), as a column: x (..., n, d) -> y (..., n, 1)."""
    return torch.sin(frequency * x).pow(2).sum(dim=-1, keepdim=True)


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
    """The features in float64 with a column of ones appended (for an affine readout).

    features (..., n, k) -> (..., n, k + 1): a stack of feature matrices gets one each.
    """
    features = features.double()
    return torch.cat([features, features.new_ones(*features.shape[:-1], 1)], dim=-1)


def fit_affine(features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients (bias last) of the affine readout of y from `features`.

    Float64 and an SVD-based solver, so dead (all-zero) or duplicate columns
    are harmless: they get the minimum-norm share. A stack of problems
    (features (..., n, k), y (..., n, 1)) is solved in one call, each exactly
    as it would be alone (LAPACK's gelsd runs on each matrix in turn).
    """
    return torch.linalg.lstsq(with_bias(features), y.double(), driver="gelsd").solution


def affine_errors(features: torch.Tensor, y: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the affine readout `coefficients` on (features, y), one per
    problem of a stack: features (..., n, k), y (..., n, 1) -> (...)."""
    return (with_bias(features) @ coefficients - y.double()).pow(2).mean(dim=(-2, -1))


def affine_error(features: torch.Tensor, y: torch.Tensor, coefficients: torch.Tensor) -> float:
    """Mean squared error of the affine readout `coefficients` on (features, y)."""
    return float(affine_errors(features, y, coefficients))


def neuron_counts(pre_activations: Sequence[torch.Tensor]) -> list[dict[str, int]]:
    """`classify_neurons` of every seed's every hidden layer at once, as the series of a log
    call: pre-activations (seeds, inputs, neurons) per layer -> one dict per seed.

    A neuron is dead when its largest pre-activation is not > 0 and always on when its
    smallest is > 0: two reductions over the inputs, a third of the time of counting
    the active inputs. A NaN would make the largest NaN, so a layer with one is counted
    input by input, as classify_neurons does.
    """
    counts = []
    for pre in pre_activations:
        largest = pre.amax(dim=1)
        if largest.isnan().any():
            inputs_active = (pre > 0).sum(dim=1)
            dead = (inputs_active == 0).sum(dim=1)
            always_on = (inputs_active == pre.shape[1]).sum(dim=1)
        else:
            dead = (largest <= 0).sum(dim=1)
            always_on = (pre.amin(dim=1) > 0).sum(dim=1)
        counts.append(torch.stack([dead, always_on, pre.shape[2] - dead - always_on], dim=1))
    table = torch.stack(counts, dim=1).tolist()  # (seeds, layers, kinds): one conversion
    return [
        {f"{kind}_l{layer}": count
         for layer, row in enumerate(per_seed, start=1)
         for kind, count in zip(("dead", "always_on", "nonlinear"), row)}
        for per_seed in table
    ]


def run_batch(config: Config, seeds: list[int], logs: list) -> None:
    """Train len(seeds) copies at once; copy i is `run(replace(config, seed=seeds[i]), logs[i])`.

    Each seed draws its training points, test points and initial weights, in
    that order, from its own generator; the networks train as one stack under
    one Adam (which updates every weight element on its own). The probes of
    all seeds are computed together too (one stacked least-squares call, one
    conversion of the counts and losses to Python numbers per step), so that
    only the arithmetic, not the Python around it, grows with the seeds.

    Measured (1 thread, default config, seeds 1000-1003, a shared 2-core
    machine): 4 seeds batched take 12-14 s of CPU against 17-20 s one after the
    other, 1.4-1.6x. What is left grows with the seeds: the matmuls and the
    elementwise passes over (seeds, 500, 100) activations (training alone is
    ~2.2x faster batched) and the per-matrix LAPACK solves of the probes.
    """
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    x_train = torch.stack([torch.randn(config.n_train, config.input_dim, generator=g) for g in generators])
    x_test = torch.stack([torch.randn(config.n_test, config.input_dim, generator=g) for g in generators])
    y_train = target(x_train, config.frequency)
    y_test = target(x_test, config.frequency)
    model = MLPStack(config.input_dim, config.hidden, generators)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    # The best any linear model of x can do: the yardstick for the plateau.
    linreg = fit_affine(x_train, y_train)
    yardsticks = [
        {"linreg_loss": train, "linreg_test_loss": test}
        for train, test in zip(affine_errors(x_train, y_train, linreg).tolist(),
                               affine_errors(x_test, y_test, linreg).tolist())
    ]
    y_variance = y_train.double().var(dim=1, unbiased=False).flatten().tolist()
    # The probes' targets: both layers of every seed as one stack of problems.
    y_probe = y_train.repeat(len(model.weights) - 1, 1, 1)

    for step in range(config.steps + 1):
        last = step == config.steps
        log_now = step % config.log_every == 0 or last
        probe_now = step % config.probe_every == 0 or last
        # The training forward pass doubles as the probe of the weights before this step.
        output, pre_activations = model(x_train)
        # Each seed's mean squared error: its train_loss, and (summed) what trains it.
        losses = (output - y_train).pow(2).mean(dim=(1, 2))
        points: list[dict] = [{} for _ in seeds]
        if log_now or probe_now:
            pre_activations = [pre.detach() for pre in pre_activations]
        if log_now:
            with torch.no_grad():
                test_output, _ = model(x_test)
                test_losses = (test_output - y_test).pow(2).mean(dim=(1, 2))
            for point, train_loss, test_loss, counts in zip(
                points, losses.tolist(), test_losses.tolist(), neuron_counts(pre_activations)
            ):
                point.update(train_loss=train_loss, test_loss=test_loss, **counts)
        if probe_now:
            features = torch.relu(torch.cat(pre_activations))  # (layers * seeds, n, hidden)
            errors = affine_errors(features, y_probe, fit_affine(features, y_probe))
            errors = errors.view(len(pre_activations), len(seeds)).tolist()
            for s, point in enumerate(points):
                for layer, layer_errors in enumerate(errors, start=1):
                    point[f"probe_r2_l{layer}"] = 1 - layer_errors[s] / y_variance[s]
        for s, (point, log) in enumerate(zip(points, logs)):
            if step == 0 or last:
                point.update(yardsticks[s])
            if point:
                log(step, **point)
            log.progress(step, config.steps)
        if last:
            break
        loss = losses.sum()  # each seed's gradient stays its own
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def run(config: Config, log) -> None:
    run_batch(config, [config.seed], [log])
