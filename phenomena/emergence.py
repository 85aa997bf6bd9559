"""Emergence on sparse parity: a long plateau at chance, a sudden jump, hidden progress.

A k-sparse parity of n bits labels a uniformly random string x in {-1, +1}^n
by the product of k secret coordinates S: y = prod_{i in S} x_i. Every
function of fewer than k of the bits is uncorrelated with the label, so
nothing a network can pick up gradually moves its accuracy: it sits at
chance and then, once it has found S, jumps to 100%. Barak, Edelman, Goel,
Kakade, Malach & Zhang (2022, "Hidden progress in deep learning: SGD learns
parities near the computational limit", NeurIPS, arXiv:2207.08799) trained
MLPs with SGD on fresh samples of sparse parities, (n, k) = (50, 3) among
them, and saw exactly that: a plateau whose length grows as n^O(k) (their
"Empirical Finding 1") ending in an abrupt phase transition. They argue the
plateau is not SGD "stumbling in the dark": the population gradient has a
Fourier gap that favours S from the start, so SGD amplifies the relevant
weights steadily while loss and accuracy show nothing -- *hidden progress*
(their Section 5 follows it with progress measures on the weights).

Michaud, Liu, Girit & Tegmark (2023, "The quantization model of neural
scaling", NeurIPS, arXiv:2303.13506) built on this a *multitask* sparse
parity: a one-hot task code is prepended to the bits, each task is a parity
of its own k-subset, and tasks are drawn with Zipfian frequencies p_i
proportional to i^-(alpha+1). Each task is a "quantum" learned in one jump;
frequent tasks are learned first -- task i after about 1/p_i steps in their
model -- so the tasks emerge one by one in order of frequency while the
mixture's loss falls smoothly.

This recipe runs both, each from its own random streams derived from the seed.

Part 1, sparse parity, as Barak et al. train it: a one-hidden-layer ReLU MLP
(n_bits -> width 1000 -> 1, PyTorch's default init) and plain SGD (lr 0.1,
no momentum, no weight decay) on the hinge loss of a fresh minibatch of 32
strings each step (online: no sample is seen twice). The gradients are
written out (tests check them against autograd). Every `log_every` steps, on
`n_test` fixed held-out strings:

- train_loss: the hinge loss of the step's minibatch (before its update);
- test_loss, test_acc: hinge loss and accuracy (sign of the output) on the
  held-out strings; chance is 0.5 (the hinge loss starts near 1 and wanders
  around it on the plateau);
- support_alignment: the hidden progress probe. For each hidden unit, the
  share of its squared input weights that sits on the k secret bits; the
  largest share over units. A unit that ignores S has a share near k/n (the
  largest of 1000 such units starts at 0.15-0.21, about 3 k/n); a unit that
  reads only the parity bits has share 1. It climbs during the second half
  of the plateau, to 2-5x its start by 90% of it, while accuracy stays at
  chance: some units are turning towards S;
- support_weight_frac: the same share for the whole first layer (starts at
  about k/n). It hardly moves during the plateau -- the hidden progress is
  in a few units -- and rises ~2.5x from the jump on.

The plateau's growth with n: alongside, the same MLP and SGD learn
`sweep_repeats` parities of the same k on each n in `sweep_bits` (each with
its own support, init and data), each until its held-out accuracy first
reaches PLATEAU_END_ACC = 0.6 (evaluated every `log_every` steps):

- plateau_steps (axis `n_bits`): that step, averaged over the parities on n
  (NaN if one of them never left chance).

Part 2, multitask sparse parity, as Michaud et al. train it (Adam). `n_tasks`
tasks over `task_bits` bits, task i a parity of its own k bits (disjoint
subsets), task i drawn with probability zipf_frequencies(n_tasks,
zipf_exponent)[i]. An MLP (n_tasks + task_bits -> multitask_width -> 1) is
trained by Adam on the logistic loss of fresh minibatches. Probes every
`multitask_log_every` steps, on `multitask_n_test` held-out strings per task:

- task0_acc, task1_acc, ...: accuracy on each task (task0 most frequent);
- multitask_acc, multitask_loss: accuracy and logistic loss averaged with
  the task frequencies (what the training distribution sees);
- task_frequency (axis `task_rank`, rank i + 1 for task i): p_i;
- task_learned_step (axis `task_rank`): the first evaluated step at which
  the task's accuracy reaches TASK_LEARNED_ACC = 0.9 (NaN if never).

All models of a run -- and, in `run_batch`, of several seeds -- are trained
at once as stacked tensors (batched matmuls); they share no numbers, and
each is seeded, fed and initialised as it would be alone.

The default claims (measured ranges: seeds 0-19, docs/phenomena/emergence.md)
and the curve without the phenomenon that each one fails on:

1. `first_step(test_acc >= 0.6) >= 1000` (1475-2500): a long plateau. Fails
   on immediate learning.
2. `mean(test_acc, 0, 0.9 * first_step(test_acc >= 0.6)) <= 0.51`
   (0.496-0.503): the plateau is at chance. Fails on a creeping rise (even a
   straight line from 0.5 to 0.6 over the plateau averages 0.545), i.e. on a
   network that picks up something short of S.
3. `first_step(test_acc >= 0.95) - first_step(test_acc >= 0.6) <= 0.35 *
   first_step(test_acc >= 0.6)` (0.08-0.27 of the plateau): the jump is
   sudden. Fails on a slope: a sigmoid in log-time, a linear rise, or the
   Adam curves this module used before (0.3-0.75).
4. `final(test_acc) >= 0.99` (1.000): the jump goes all the way. Fails on a
   rise that stalls short of the parity.
5. `loglog_slope(plateau_steps) >= 1` (1.21-1.67 over n = 20-50; 1.05-1.69
   on seeds 1000-1019, the tightest margin of all claims; Barak et al. have
   n^O(k), and SGD sample-complexity bounds for k-parities go as n^(k-1),
   slope 2 at k = 3): the plateau grows with n, faster than n. Fails on a
   plateau that does not depend on n (slope 0), i.e. one set by the
   optimiser's schedule rather than by the search for S, and on one that
   grows only in proportion to n.
6. `at(support_alignment, 0.9 * first_step(test_acc >= 0.6)) >= 1.8 *
   initial(support_alignment)` (2.2-5.2x): hidden progress -- before
   accuracy moves, the best unit has turned towards S. Fails on "stumbling
   in the dark": a probe that stays at its initial level until a lucky
   find.
7. `at(test_acc, first_step(support_alignment >= 2 *
   initial(support_alignment))) <= 0.55` (0.48-0.52): ... and the progress
   is hidden: when the probe has doubled, accuracy is still at chance. Fails
   if the probe only moves with the accuracy.
8. `final(support_alignment) >= 0.95` (0.997-0.999): what was found is S --
   a unit reads only the secret bits. Fails on a solution spread over other
   bits.
9-12. `first_step(task{i}_acc >= 0.9) < first_step(task{j}_acc >= 0.9)` for
   (i, j) = (0, 1), (1, 2), (2, 3), (2, 4): tasks are learned in order of
   frequency (consecutive frequencies differ 2.6x, 1.8x, 1.5x). Fails on
   simultaneous or unordered learning. The two rarest tasks (1.37x apart)
   are learned in order on seeds 0-19 too (1.14-1.55x apart in time) but not
   claimed: the quantization model orders tasks statistically, and with a
   task's learning time varying ~10% from seed to seed that pair swaps on a
   seed now and then (it did on one of seeds 1000-1019 with the previous
   version of this module).
13. `loglog_slope(task_learned_step) between -0.7 * loglog_slope(task_frequency)
   and -1.1 * loglog_slope(task_frequency)` (1.08-1.36 against alpha + 1 =
   1.4): the learning step grows as a power of the task's rank, t_i ~
   p_i^-gamma with gamma 0.77-0.97, close to the quantization model's 1/p_i.
   Fails on tasks learned together (gamma 0), in random order, or far later
   than their frequency says.
14. `final(task4_acc) >= 0.95` (1.000): every task, the rarest included, is
   learned in the end. Fails on a network without room for the rare quanta.

The figures reproduced: Barak et al.'s training curves of an MLP on the
(50, 3) parity (a plateau at chance, then an abrupt transition), their
convergence time growing with n at fixed k (Empirical Finding 1), and their
hidden-progress measures (Section 5); Michaud et al.'s per-subtask learning
curves on multitask sparse parity (each subtask learned abruptly, frequent
ones first).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

TITLE = (
    "Emergence on sparse parity: a long plateau at chance that grows with n, a sudden "
    "jump driven by hidden progress, and Zipf-frequent tasks learned first"
)

# A task counts as learned from the first evaluation where its accuracy reaches this.
TASK_LEARNED_ACC = 0.9
# A run has left chance when its held-out accuracy reaches this: 9 standard
# deviations of chance accuracy on n_test = 2048 strings (0.011) above 0.5.
PLATEAU_END_ACC = 0.6


@dataclass
class Config:
    seed: int = 0
    # Part 1. (n, k) = (50, 3) is the instance Barak et al. study most. k_bits
    # is also the size of every task's subset in part 2.
    n_bits: int = 50
    k_bits: int = 3
    # Barak et al.'s MLP and optimiser: width 1000, plain SGD at lr 0.1 on the
    # hinge loss of fresh minibatches of 32. Measured while developing (seeds
    # 0-3): at width 256 or 128 the rise from 0.6 to 0.95 takes 0.2-0.45 of the
    # plateau before it, at width 1000 0.12-0.19.
    width: int = 1000
    lr: float = 0.1
    batch_size: int = 32
    # Measured on seeds 0-19: accuracy reaches 0.6 at 1475-2500 steps and 0.95
    # 200-400 steps later; the rest shows the network staying at 100%.
    steps: int = 4000
    # Chance accuracy on 2048 held-out strings wobbles by 0.011.
    n_test: int = 2048
    # Resolves a jump of 200-400 steps in 8-16 points.
    log_every: int = 25
    # The plateau's growth with n: sweep_repeats parities of the same k on each
    # of these n (their own supports, inits and data; the same MLP and SGD),
    # each trained until it leaves chance. Measured on seeds 0-19 with one
    # parity per n: 375-650 steps at n = 20, 1475-2500 at n = 50, log-log
    # slope 1.15-1.65 (1.08-1.87 on seeds 1000-1019); with two per n the
    # slope is 1.21-1.67 on seeds 0-19. Below 20 the plateau is only a few
    # evaluations long; n above 50 would lengthen the run (n = 70 leaves
    # chance at 2300-4025 steps on seeds 0-3).
    sweep_bits: tuple = (20, 25, 30, 35, 40, 45, 50)
    sweep_repeats: int = 2
    # Part 2. Michaud et al. use 500 tasks of k=3 parities on 100 bits;
    # scaled down so five tasks are learned in a few CPU seconds.
    n_tasks: int = 5
    task_bits: int = 30
    # p_i ~ i^-(alpha + 1) with alpha = 0.4, the exponent of Michaud et al.
    # Consecutive tasks then differ in frequency by 1.4-2.6x.
    zipf_exponent: float = 1.4
    # Measured: room for all five tasks (at width 32 only the two most
    # frequent are learned in 10000 steps).
    multitask_width: int = 256
    # Adam at its usual rate, as Michaud et al. train it.
    multitask_lr: float = 1e-3
    # Large enough that the rarest task (p = 0.057) is in each batch ~15 times.
    multitask_batch_size: int = 256
    # Measured on seeds 0-19: the rarest of five tasks reaches 90% at
    # 3950-5350 steps; the rest is margin.
    multitask_steps: int = 7000
    # Per task; chance accuracy wobbles by ~0.016.
    multitask_n_test: int = 1024
    # Consecutive tasks reach 90% >= 450 steps apart (seeds 0-19): 9+ points
    # between them.
    multitask_log_every: int = 50


# Runs in about a second; the 3-of-10 parity is still learned (the tasks are not).
QUICK = {
    "n_bits": 10,
    "width": 64,
    "steps": 300,
    "n_test": 512,
    "log_every": 20,
    "sweep_bits": (6, 8, 10),
    "task_bits": 15,
    "multitask_width": 64,
    "multitask_batch_size": 128,
    "multitask_steps": 400,
    "multitask_n_test": 256,
    "multitask_log_every": 20,
}

# Thresholds come from seeds 0-19 of the default config (measured range in each
# comment; per-seed table in docs/phenomena/emergence.md). The docstring says
# which curve without the phenomenon each claim fails on.
CLAIMS = [
    # Part 1. A long plateau (1475-2500 steps) ...
    "first_step(test_acc >= 0.6) >= 1000",
    # ... at chance (mean accuracy over its first 90%: 0.496-0.503) ...
    "mean(test_acc, 0, 0.9 * first_step(test_acc >= 0.6)) <= 0.51",
    # ... then a jump: 0.6 -> 0.95 takes 0.08-0.27 of the plateau ...
    "first_step(test_acc >= 0.95) - first_step(test_acc >= 0.6) <= 0.35 * first_step(test_acc >= 0.6)",
    # ... to the parity, exactly (1.000).
    "final(test_acc) >= 0.99",
    # The plateau grows faster than n: log-log slope 1.21-1.67 over n = 20-50.
    "loglog_slope(plateau_steps) >= 1",
    # Hidden progress: at 90% of the plateau the best unit's share of weight on
    # the secret bits has grown 2.2-5.2x ...
    "at(support_alignment, 0.9 * first_step(test_acc >= 0.6)) >= 1.8 * initial(support_alignment)",
    # ... and when it had doubled, accuracy was at chance (0.481-0.521).
    "at(test_acc, first_step(support_alignment >= 2 * initial(support_alignment))) <= 0.55",
    # What was found is S: a unit reads only the secret bits (0.997-0.999).
    "final(support_alignment) >= 0.95",
    # Part 2. Tasks are learned in order of frequency, the two rarest (1.37x
    # apart in frequency) after the third but in either order (see the
    # docstring); the claimed pairs reach 90% 1.18x or more apart in time ...
    "first_step(task0_acc >= 0.9) < first_step(task1_acc >= 0.9)",
    "first_step(task1_acc >= 0.9) < first_step(task2_acc >= 0.9)",
    "first_step(task2_acc >= 0.9) < first_step(task3_acc >= 0.9)",
    "first_step(task2_acc >= 0.9) < first_step(task4_acc >= 0.9)",
    # ... each at a step ~ p_i^-gamma, gamma 0.77-0.97 (1/p_i in Michaud et
    # al.'s model); task_frequency's slope is -(alpha + 1) by construction ...
    "loglog_slope(task_learned_step) between -0.7 * loglog_slope(task_frequency) "
    "and -1.1 * loglog_slope(task_frequency)",
    # ... and every task, the rarest included, is learned in the end (1.000).
    "final(task4_acc) >= 0.95",
]


# --- data ----------------------------------------------------------------------------


def random_bits(count: int, n_bits: int, generator: torch.Generator) -> torch.Tensor:
    """`count` uniformly random strings in {-1, +1}^n_bits, as floats."""
    return torch.randint(0, 2, (count, n_bits), generator=generator).float() * 2 - 1


def parity(bits: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """The label prod_{i in support} bits_i (+1 or -1) of each string (last dimension)."""
    return bits[..., support].prod(dim=-1)


def zipf_frequencies(n_tasks: int, exponent: float) -> torch.Tensor:
    """Task probabilities p_i proportional to i^-exponent, i = 1..n_tasks (Michaud et al.)."""
    weights = torch.arange(1, n_tasks + 1, dtype=torch.float64) ** -exponent
    return (weights / weights.sum()).float()


def multitask_batch(
    tasks: torch.Tensor, subsets: torch.Tensor, task_bits: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs [one-hot task code, bits] and labels (parity of the task's subset) for `tasks`."""
    bits = random_bits(len(tasks), task_bits, generator)
    labels = torch.gather(bits, 1, subsets[tasks]).prod(dim=1)
    code = torch.nn.functional.one_hot(tasks, len(subsets)).float()
    return torch.cat([code, bits], dim=1), labels


def stream_seeds(seed: int, count: int) -> list[int]:
    """`count` independent seeds derived from `seed`: stream 0 is part 1's run, 1 part 2's,
    2 + j the j-th sweep model's. Child j of a SeedSequence does not depend on `count`."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(count)]


# --- a stack of independent MLPs -----------------------------------------------------


@dataclass
class MLPStack:
    """M independent one-hidden-layer ReLU MLPs (inputs -> width -> 1) as stacked tensors.

    Model i reads the first n_i of the n_max input columns; its weights on the
    others are zero and, as those inputs are zero too, stay zero.
    """

    w1: torch.Tensor  # (M, width, n_max)
    b1: torch.Tensor  # (M, width)
    w2: torch.Tensor  # (M, width)
    b2: torch.Tensor  # (M,)

    @classmethod
    def init(cls, n_inputs: Sequence[int], width: int, generators: Sequence[torch.Generator]):
        """PyTorch's default Linear init (uniform, bound 1/sqrt(fan_in)) for each model,
        drawn from its own generator in the order w1, b1, w2, b2."""
        n_max = max(n_inputs)
        parts: list[list[torch.Tensor]] = [[], [], [], []]
        for n, generator in zip(n_inputs, generators):
            shapes = [((width, n), n), ((width,), n), ((width,), width), ((), width)]
            for part, (shape, fan_in) in zip(parts, shapes):
                bound = 1.0 / math.sqrt(fan_in)
                part.append(torch.empty(shape).uniform_(-bound, bound, generator=generator))
            parts[0][-1] = pad_columns(parts[0][-1], n_max)
        return cls(*(torch.stack(part) for part in parts))

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        """Pre-activations (M, B, width) of inputs (M, B, n_max)."""
        return torch.baddbmm(self.b1.unsqueeze(1), inputs, self.w1.transpose(1, 2))

    def output(self, pre: torch.Tensor) -> torch.Tensor:
        """Outputs (M, B) from the pre-activations."""
        return torch.baddbmm(self.b2[:, None, None], pre.clamp_min(0), self.w2.unsqueeze(2))[..., 0]

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden(inputs))

    def keep(self, rows: torch.Tensor) -> MLPStack:
        return MLPStack(self.w1[rows], self.b1[rows], self.w2[rows], self.b2[rows])

    def one_by_one(self, inputs: torch.Tensor) -> torch.Tensor:
        """The outputs, computed one model at a time: a large stacked (M, B, width)
        temporary would be mapped afresh, page by page, at every call (measured:
        2-3x slower for 28 models on 2048 strings)."""
        return torch.cat([
            MLPStack(self.w1[i : i + 1], self.b1[i : i + 1], self.w2[i : i + 1],
                     self.b2[i : i + 1])(inputs[i : i + 1])
            for i in range(len(inputs))
        ])

    def parameters(self) -> list[torch.Tensor]:
        return [self.w1, self.b1, self.w2, self.b2]


def pad_columns(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Zero columns appended to the last dimension up to `width`."""
    return torch.nn.functional.pad(tensor, (0, width - tensor.shape[-1]))


def hinge_loss(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean max(0, 1 - y f) over the last dimension, for labels y in {-1, +1}."""
    return (1 - labels * output).clamp_min(0).mean(dim=-1)


def logistic_loss(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean log(1 + exp(-y f)) over the last dimension: cross-entropy on one logit."""
    return torch.nn.functional.softplus(-labels * output).mean(dim=-1)


def accuracy(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Share of the last dimension where the sign of the output is the label."""
    return (torch.sign(output) == labels).float().mean(dim=-1)


def sgd_hinge_step(model: MLPStack, inputs: torch.Tensor, labels: torch.Tensor, lr: float) -> None:
    """One SGD step of every model on the mean hinge loss of its minibatch, in place.

    The gradients are written out (tests/phenomena check them against autograd):
    dL/df = -y/B where the margin y f < 1, else 0; the ReLU passes it where the
    pre-activation is > 0, as torch's does.
    """
    pre = model.hidden(inputs)
    hidden = pre.clamp_min(0)
    output = torch.baddbmm(model.b2[:, None, None], hidden, model.w2.unsqueeze(2))[..., 0]
    grad_output = torch.where(labels * output < 1, -labels, 0.0) / labels.shape[1]
    grad_pre = grad_output.unsqueeze(2) * model.w2.unsqueeze(1) * (pre > 0)
    model.w2.sub_(torch.bmm(grad_output.unsqueeze(1), hidden)[:, 0], alpha=lr)
    model.b2.sub_(grad_output.sum(dim=1), alpha=lr)
    model.w1.sub_(torch.bmm(grad_pre.transpose(1, 2), inputs), alpha=lr)
    model.b1.sub_(grad_pre.sum(dim=1), alpha=lr)


def support_shares(
    weight: torch.Tensor, support: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Share of squared first-layer weight on the `support` columns: best unit, whole layer.

    weight (..., width, n), support (..., k) -> two tensors of shape (...).
    """
    squared = weight.pow(2)
    index = support.unsqueeze(-2).expand(*squared.shape[:-1], support.shape[-1])
    on_support = squared.gather(-1, index).sum(dim=-1)
    best_unit = (on_support / squared.sum(dim=-1)).amax(dim=-1)
    return best_unit, on_support.sum(dim=-1) / squared.sum(dim=(-2, -1))


# --- part 1: sparse parities, SGD ----------------------------------------------------


@dataclass
class ParityRun:
    """One (n_bits, k) parity and the MLP that learns it, trained by `train_parities`.

    It stops at `steps`, or at the first evaluation where its held-out accuracy
    reaches `stop_at_acc`. `report(step, probes)` receives its probes at every
    evaluation; `left_chance` is the first evaluated step with accuracy >=
    PLATEAU_END_ACC (None until then).
    """

    n_bits: int
    generator: torch.Generator
    support: torch.Tensor
    test_bits: torch.Tensor
    test_labels: torch.Tensor
    steps: int
    stop_at_acc: float | None = None
    report: Callable[[int, dict[str, float]], None] | None = None
    left_chance: int | None = field(default=None, init=False)

    @classmethod
    def draw(cls, n_bits: int, config: Config, seed: int, **kwargs) -> ParityRun:
        """The secret support and the held-out strings, drawn from a generator seeded
        with `seed` (which then feeds this run's minibatches and, first, its init)."""
        generator = torch.Generator().manual_seed(seed)
        support = torch.randperm(n_bits, generator=generator)[: config.k_bits].sort().values
        test_bits = random_bits(config.n_test, n_bits, generator)
        return cls(n_bits, generator, support, test_bits, parity(test_bits, support),
                   config.steps, **kwargs)


def train_parities(
    runs: Sequence[ParityRun], config: Config, progress: Callable[[int], None]
) -> None:
    """Train every run's MLP at once (one stacked tensor; the models are independent).

    Every `log_every` steps, and at the last: each active run's probes on its
    held-out strings; runs that are done leave the stack. `progress(step)` after
    every stretch of `log_every` steps.
    """
    n_max = max(run.n_bits for run in runs)
    model = MLPStack.init([run.n_bits for run in runs], config.width,
                          [run.generator for run in runs])
    test_bits = torch.stack([pad_columns(run.test_bits, n_max) for run in runs])
    test_labels = torch.stack([run.test_labels for run in runs])
    supports = torch.stack([run.support for run in runs])
    active = list(runs)
    step = 0
    while True:
        # The next stretch of minibatches, drawn before the evaluation so that the
        # logged train_loss is the loss of the step's own minibatch.
        stretch = max(1, min(config.log_every, max(run.steps for run in active) - step))
        bits = torch.stack([
            pad_columns(random_bits(stretch * config.batch_size, run.n_bits, run.generator)
                        .view(stretch, config.batch_size, run.n_bits), n_max)
            for run in active
        ])
        labels = torch.stack([parity(bits[i, ..., : run.n_bits], run.support)
                              for i, run in enumerate(active)])
        with torch.no_grad():
            test_output = model.one_by_one(test_bits)
            train_output = model(bits[:, 0])
            best_unit, layer = support_shares(model.w1, supports)
        probes = {
            "train_loss": hinge_loss(train_output, labels[:, 0]),
            "test_loss": hinge_loss(test_output, test_labels),
            "test_acc": accuracy(test_output, test_labels),
            "support_alignment": best_unit,
            "support_weight_frac": layer,
        }
        keep = []
        for i, run in enumerate(active):
            values = {name: float(value[i]) for name, value in probes.items()}
            if run.left_chance is None and values["test_acc"] >= PLATEAU_END_ACC:
                run.left_chance = step
            if run.report is not None:
                run.report(step, values)
            stop = run.stop_at_acc is not None and values["test_acc"] >= run.stop_at_acc
            if step < run.steps and not stop:
                keep.append(i)
        if not keep:
            return
        if len(keep) < len(active):
            rows = torch.tensor(keep)
            model, bits, labels = model.keep(rows), bits[rows], labels[rows]
            test_bits, test_labels, supports = test_bits[rows], test_labels[rows], supports[rows]
            active = [active[i] for i in keep]
        for t in range(stretch):
            sgd_hinge_step(model, bits[:, t], labels[:, t], config.lr)
        step += stretch
        progress(step)


def run_parities(config: Config, seeds: Sequence[int], logs: Sequence) -> None:
    """Part 1 for every seed at once: the (n_bits, k) run, logged in full, and the sweep,
    `sweep_repeats` parities on each n of `sweep_bits`, each trained until it leaves
    chance; plateau_steps is their mean step, against n."""
    sizes = [n for n in config.sweep_bits for _ in range(config.sweep_repeats)]
    runs, sweeps = [], []
    for seed, log in zip(seeds, logs):
        streams = stream_seeds(seed, 2 + len(sizes))
        runs.append(ParityRun.draw(config.n_bits, config, streams[0],
                                   report=lambda step, probes, log=log: log(step, **probes)))
        sweeps.append([ParityRun.draw(n, config, streams[2 + j], stop_at_acc=PLATEAU_END_ACC)
                       for j, n in enumerate(sizes)])
    total = config.steps + config.multitask_steps

    def progress(step: int) -> None:
        for log in logs:
            log.progress(step, total)

    train_parities(runs + [run for sweep in sweeps for run in sweep], config, progress)
    for sweep, log in zip(sweeps, logs):
        for n in sorted(set(config.sweep_bits)):
            left = [run.left_chance for run in sweep if run.n_bits == n]
            plateau = math.nan if None in left else sum(left) / len(left)
            log(n, axis="n_bits", plateau_steps=plateau)


# --- part 2: multitask sparse parity, Adam -------------------------------------------


def run_multitask(config: Config, seeds: Sequence[int], logs: Sequence) -> None:
    """Part 2 for every seed at once: Zipf-weighted tasks, each a parity of its own k bits;
    per-task accuracy."""
    if config.n_tasks * config.k_bits > config.task_bits:
        raise ValueError(
            f"{config.n_tasks} tasks of {config.k_bits} disjoint bits need task_bits >= "
            f"{config.n_tasks * config.k_bits}, got {config.task_bits}; raise task_bits"
        )
    frequencies = zipf_frequencies(config.n_tasks, config.zipf_exponent)
    weights = frequencies.tolist()
    generators, subsets, test_inputs, test_labels = [], [], [], []
    every_task = torch.arange(config.n_tasks).repeat_interleave(config.multitask_n_test)
    for seed, log in zip(seeds, logs):
        for task, frequency in enumerate(weights):
            log(task + 1, axis="task_rank", task_frequency=frequency)
        generator = torch.Generator().manual_seed(stream_seeds(seed, 2)[1])
        subset = torch.randperm(config.task_bits, generator=generator)
        subset = subset[: config.n_tasks * config.k_bits].view(config.n_tasks, config.k_bits)
        inputs, labels = multitask_batch(every_task, subset, config.task_bits, generator)
        generators.append(generator)
        subsets.append(subset)
        test_inputs.append(inputs)
        test_labels.append(labels.view(config.n_tasks, config.multitask_n_test))
    test_inputs, test_labels = torch.stack(test_inputs), torch.stack(test_labels)
    n_inputs = config.n_tasks + config.task_bits
    model = MLPStack.init([n_inputs] * len(seeds), config.multitask_width, generators)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.multitask_lr)
    batch = config.multitask_batch_size

    learned = [[math.nan] * config.n_tasks for _ in seeds]
    step = 0
    while True:
        with torch.no_grad():
            output = model.one_by_one(test_inputs).view_as(test_labels)
            accuracies = accuracy(output, test_labels).tolist()
            losses = logistic_loss(output, test_labels).tolist()
        for log, task_acc, task_loss, first in zip(logs, accuracies, losses, learned):
            for task, value in enumerate(task_acc):
                if math.isnan(first[task]) and value >= TASK_LEARNED_ACC:
                    first[task] = step
            log(
                step,
                multitask_acc=sum(p * value for p, value in zip(weights, task_acc)),
                multitask_loss=sum(p * value for p, value in zip(weights, task_loss)),
                **{f"task{task}_acc": value for task, value in enumerate(task_acc)},
            )
            log.progress(config.steps + step, config.steps + config.multitask_steps)
        stretch = min(config.multitask_log_every, config.multitask_steps - step)
        if stretch == 0:
            break
        inputs, labels = [], []
        for generator, subset in zip(generators, subsets):
            tasks = torch.multinomial(frequencies, stretch * batch, replacement=True,
                                      generator=generator)
            x, y = multitask_batch(tasks, subset, config.task_bits, generator)
            inputs.append(x.view(stretch, batch, n_inputs))
            labels.append(y.view(stretch, batch))
        inputs, labels = torch.stack(inputs, dim=1), torch.stack(labels, dim=1)
        for t in range(stretch):
            loss = logistic_loss(model(inputs[t]), labels[t]).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        step += stretch
    for log, first in zip(logs, learned):
        for task, value in enumerate(first):
            log(task + 1, axis="task_rank", task_learned_step=value)


def run_batch(config: Config, seeds: list[int], logs: list) -> None:
    """Train len(seeds) copies at once; copy i is `run(replace(config, seed=seeds[i]))`."""
    run_parities(config, seeds, logs)
    run_multitask(config, seeds, logs)


def run(config: Config, log) -> None:
    run_batch(config, [config.seed], [log])
