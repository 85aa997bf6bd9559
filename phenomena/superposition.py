"""Toy models of superposition: sparse features share dimensions as antipodal pairs and polygons.

Elhage et al. (2022, "Toy Models of Superposition", Transformer Circuits
Thread, Anthropic) asked when a network represents more features than it has
dimensions. Their toy model compresses n features into m < n hidden dimensions
and reads them back out,

    x' = ReLU(W^T W x + b),    W: m x n,  column W_i = feature i's direction,

trained to minimise the importance-weighted error sum_i I_i (x_i - x'_i)^2
with importance decaying geometrically, I_i = decay^i. Each feature is zero
with probability S (the sparsity) and uniform on [0, 1] otherwise. Their
signature (Elhage et al., "Demonstrating superposition", n = 20, m = 5,
I_i = 0.7^i):

- dense features (S = 0): the model keeps the m most important features,
  each with norm ~1, mutually orthogonal -- a PCA-like solution -- and drops
  the rest (norm ~0);
- sparse features (S -> 1): the model represents more features than it has
  dimensions, in superposition, packing them in antipodal pairs (two features
  on one line, 1/2 dimension each), triangles, pentagons (2/5 each) and
  tetrahedra; the ReLU and the bias filter out the interference, which is
  rare when features are rarely active together.

The figure reproduced: Elhage et al.'s "Demonstrating superposition" /
"Basic results" figure (n = 20, m = 5, I_i = 0.7^i, sparsity swept from 0 to
0.999), whose bars give ||W_i|| per feature and whether it shares its
direction: at S = 0 five orthogonal features of norm 1 and fifteen at 0;
as S grows, more and more features in superposition. The antipodal pairs and
the dimensions per feature below 1/2 are those of their "Feature
dimensionality" section.

The default claims, and the curve without the phenomenon that each fails on:

- final(features_represented) == final(hidden_dims): dense features keep
  exactly m. Fails if the model superposes even dense features (more than m)
  or leaves dimensions unused (fewer).
- final(max_overlap) < 0.01: the m kept directions are orthogonal. Fails on
  any dense solution that shares a direction (six unit features in five
  dimensions overlap by at least 0.2, the Welch bound).
- final(dims_per_feature) between 0.98 and 1.02: each kept feature has norm
  1 and each dropped one norm 0. Fails on a dense solution with shrunken or
  partly kept features.
- initial(features_represented) > 2 * initial(hidden_dims): very sparse
  features are superposed, more than two per dimension. Fails on a model
  that keeps m orthogonal features whatever the sparsity (no superposition).
- initial(dims_per_feature) <= 0.4: they are packed more densely than
  antipodal pairs (1/2), toward pentagons (2/5). Fails on pairs only, or on a
  few faint extra features.
- max(max_overlap) >= 0.99: somewhere on the sweep two features lie on one
  line in opposite directions. Fails on superposition without antipodal
  pairs (the largest |cos| is 0.5 in a triangle, 0.81 in a pentagon, 1/3
  in a tetrahedron).

The experiment. One model per feature density 1 - S on a log grid is trained
from the seed, all at once as one batched tensor (the models are independent;
only the arithmetic is shared), and probed after training. run_batch trains
several seeds the same way, one more batch dimension; each seed's models see
only that seed's initialisation and inputs.

Probes logged against axis "density" (1 - S, increasing):

- features_represented: the number of features i with ||W_i|| > 0.5 (Elhage
  et al. draw the feature norms; a represented feature has norm ~1, a dropped
  one ~0); fraction_represented is the same divided by n;
- hidden_dims: m, logged as a constant so claims can compare with it;
- dims_per_feature: m / ||W||_F^2, Elhage et al.'s "dimensions per feature":
  1 when m orthogonal unit features fill the space, 1/2 for antipodal pairs,
  2/5 for pentagons;
- max_overlap: the largest |cos| between the directions of two represented
  features: ~0 for an orthogonal solution, 1 for an antipodal pair;
- mean_interference: the mean over represented features of
  sum_{j != i} (W^_i . W_j)^2, how much of the other features leaks onto
  feature i's direction (W^_i is the unit vector of W_i);
- loss: the importance-weighted reconstruction error on a fresh batch.

Probes logged against axis "feature" (index i, in order of importance), for
the densest and the sparsest model:

- feature_norm_dense, feature_norm_sparse: ||W_i||;
- feature_dimensionality_dense, feature_dimensionality_sparse: Elhage et
  al.'s per-feature dimensionality D_i = ||W_i||^2 / sum_j (W^_i . W_j)^2:
  1 for a feature with a dimension to itself, 1/2 in an antipodal pair, 2/5 in
  a pentagon, ~0 for a dropped feature.

The toy model, its data and its training loop are shared with
phenomena.neural_scaling, which varies the width m instead of the sparsity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

TITLE = "Toy models of superposition: dense features get orthogonal dimensions, sparse ones share them"


@dataclass
class Config:
    seed: int = 0
    # n features into m hidden dimensions, importance decay^i: the setting of
    # Elhage et al.'s "Demonstrating superposition" (n = 20, m = 5, 0.7^i).
    n_features: int = 20
    hidden_dims: int = 5
    importance_decay: float = 0.7
    # Feature densities 1 - S, one model each; Elhage et al. sweep
    # 1 - S from 1 down to 0.001 in half-decades.
    densities: tuple = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    # Adam, batch 1024, lr 1e-3 and 10,000 steps as in Elhage et al.'s
    # notebook (we add the warm-up and cosine decay of lr_factor below).
    steps: int = 10_000
    batch_size: int = 1024
    lr: float = 1e-3
    # Fresh inputs for the final loss.
    eval_size: int = 10_000


QUICK = {"steps": 200, "batch_size": 256, "eval_size": 1000}

# Trained together, seeds run 1.00x as fast as one by one (docs/phenomena/superposition.md):
# a verification runs them in parallel sandboxes instead.
BATCHING_PAYS = False

CLAIMS = [
    # Dense limit (1 - S = 1): exactly m features kept, the PCA-like solution
    # (measured: m = 5 kept on seeds 0-19) ...
    "final(features_represented) == final(hidden_dims)",
    # ... mutually orthogonal (measured: largest |cos| <= 0.003; six unit
    # features in 5 dimensions overlap by >= 0.2, the Welch bound) ...
    "final(max_overlap) < 0.01",
    # ... at one full dimension each: unit norms, the dropped ones at zero
    # (measured 0.997-1.000).
    "final(dims_per_feature) between 0.98 and 1.02",
    # Sparse limit (1 - S = 0.001): more than twice as many features as
    # dimensions (measured 12-15 in 5) ...
    "initial(features_represented) > 2 * initial(hidden_dims)",
    # ... packed more densely than antipodal pairs, toward pentagons' 2/5
    # (measured 0.30-0.36; pairs alone would give 1/2).
    "initial(dims_per_feature) <= 0.4",
    # On the way, two features share one line in opposite directions: an
    # antipodal pair (measured |cos| >= 0.9999 on every seed).
    "max(max_overlap) >= 0.99",
]

# A feature counts as represented when its norm exceeds this: trained norms
# are ~1 (kept) or ~0 (dropped) (Elhage et al.'s feature-norm plots); only in
# the sparsest models do a few late features still sit in between.
REPRESENTED_NORM = 0.5
# Learning-rate schedule shared with neural_scaling: linear warm-up over this
# fraction of the steps, then cosine decay to MIN_LR_FACTOR of the peak
# (Liu, Liu & Gore's schedule; the small final rate quiets the noise of the
# last updates, so the probes read a settled W).
WARMUP_FRACTION = 0.05
MIN_LR_FACTOR = 0.05


# --- the toy model, shared with phenomena.neural_scaling -------------------
#
# Weights are stored feature-major, one row per feature: weights[k, i] is W_i
# of model k (shape [models, n, m]), so a batch of K independent models is one
# tensor and every probe below works per model.


def reconstruct(weights: torch.Tensor, bias: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """x' = ReLU(W^T W x + b) for every model: inputs [K, B, n] -> outputs [K, B, n]."""
    return torch.relu(inputs @ weights @ weights.transpose(1, 2) + bias)


def feature_source(seed: int) -> np.random.Generator:
    """The stream of random inputs of one seed (PCG64: about twice as fast as torch's CPU generator)."""
    return np.random.Generator(np.random.PCG64(seed))


def sample_features(
    probability: torch.Tensor, batch_size: int, max_value: float, sources: list[np.random.Generator],
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sparse inputs [G, B, n]: feature i of group g is active with probability[g, i], then uniform on [0, max_value).

    The G groups are split evenly between the sources, in order: source s
    makes groups s*G/S .. (s+1)*G/S - 1, so a seed's inputs do not depend on
    which other seeds are trained beside it. A source draws one uniform u per
    (input, feature) and all its groups use it: the feature is active when
    u < p, and then u * max / p is itself uniform on [0, max). Each group
    gets exactly the distribution asked for; groups of one source share
    their randomness (with p' < p, every feature active at p' is also active
    at p), which costs one draw for all of them. `out`, if given, is
    overwritten and returned.
    """
    groups, n = probability.shape
    per_source = groups // len(sources)
    if out is None:
        out = torch.empty(groups, batch_size, n)
    # Numpy, in place on torch's buffer: its generator and branch-free
    # select are 2-4x faster here than torch's.
    inputs = out.numpy().reshape(len(sources), per_source, batch_size, n)
    scale = (max_value / probability.clamp_min(1e-30)).numpy().reshape(len(sources), per_source, 1, n)
    for s, source in enumerate(sources):
        np.multiply(source.random((batch_size, n), dtype=np.float32), scale[s], out=inputs[s])
    np.multiply(inputs, inputs < max_value, out=inputs)
    return out


def weighted_error(outputs: torch.Tensor, inputs: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Per model: mean over the batch of sum_i importance_i (x_i - x'_i)^2 -> [K]."""
    return ((outputs - inputs) ** 2 * importance[:, None, :]).sum(-1).mean(-1)


def lr_factor(step: int, steps: int) -> float:
    """Linear warm-up, then cosine decay to MIN_LR_FACTOR."""
    warmup = max(1, int(WARMUP_FRACTION * steps))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return MIN_LR_FACTOR + (1 - MIN_LR_FACTOR) * 0.5 * (1 + math.cos(math.pi * progress))


def decay_weights(weights: torch.Tensor, rate: torch.Tensor, lr: float | torch.Tensor) -> None:
    """Decoupled weight decay, per model, with Liu, Liu & Gore's sign convention.

    rate >= 0 is ordinary decay, W <- (1 - lr rate) W, which prunes rare
    features (weak superposition). rate < 0 is "weight growth": every row W_i
    moves toward unit norm, W_i <- W_i + lr rate (1 - 1/||W_i||) W_i, so every
    feature gets represented (strong superposition). `rate` is [K, 1, 1].
    """
    shrunk = weights * (1 - lr * rate)
    row_norm = weights.norm(dim=-1, keepdim=True)
    grown = weights + lr * rate * (1 - 1 / (row_norm + 1e-8)) * weights
    weights.copy_(torch.where(rate >= 0, shrunk, grown))


def _grouped(tensor: torch.Tensor, groups: int) -> torch.Tensor:
    """[K, r, c] -> [G, r, (K/G) c]: the K/G models of a group side by side."""
    models, rows, cols = tensor.shape
    per_group = models // groups
    if per_group == 1:
        return tensor
    return tensor.view(groups, per_group, rows, cols).transpose(1, 2).reshape(groups, rows, per_group * cols)


def _ungrouped(tensor: torch.Tensor, models: int) -> torch.Tensor:
    """The inverse of _grouped: [G, r, (K/G) c] -> [K, r, c]."""
    groups, rows, width = tensor.shape
    per_group = models // groups
    if per_group == 1:
        return tensor
    cols = width // per_group
    return tensor.view(groups, rows, per_group, cols).transpose(1, 2).reshape(models, rows, cols)


def gradients(params: torch.Tensor, inputs: torch.Tensor, weighting: torch.Tensor, grads: torch.Tensor,
              work: dict | None = None) -> None:
    """Write into grads the gradient of every model's loss sum_b sum_i w_i (ReLU(z_bi) - x_bi)^2.

    params [K, n, m + 1] holds W_i in its first m columns and b_i in the
    last; grads is laid out alike. inputs [G, B, n]: group g feeds models
    g*K/G ... weighting w is [K, n, 1]. With z = x W W^T + b and the error
    signal D_bi = z_bi - x_bi where z_bi > 0 and 0 elsewhere (ReLU's
    backward), dl/dW = w (D^T x W) + x^T D (w W) and dl/db = w sum_b D. With
    the bias as one more hidden unit that is always 1, that is three matrix
    products and two passes over [K, B, n], a third of autograd's work.
    `work` keeps the two [K, B, n] buffers between calls (fresh ones of that
    size cost page faults every step).
    """
    models, n, _ = params.shape
    groups, batch, _ = inputs.shape
    work = {} if work is None else work
    if "z" not in work or work["z"].shape != (models, batch, n) or work["z"].dtype != params.dtype:
        work["z"] = torch.empty(models, batch, n, dtype=params.dtype)
        work["error"] = torch.empty_like(work["z"])
    z, error = work["z"], work["error"]
    hidden = _ungrouped(torch.bmm(inputs, _grouped(params, groups)), models)
    hidden[:, :, -1] = 1  # [K, B, m + 1]: x W, and the bias's constant input
    torch.bmm(hidden, params.transpose(1, 2), out=z)  # x W W^T + b
    torch.sub(z.view(groups, -1, batch, n), inputs[:, None], out=error.view(groups, -1, batch, n))
    torch.ops.aten.threshold_backward.grad_input(error, z, 0.0, grad_input=error)  # D, in place
    back = torch.bmm(error, params * weighting)
    back[:, :, -1] = 0  # the bias does not act through the hidden layer
    torch.bmm(error.transpose(1, 2), hidden, out=grads)
    grads.mul_(weighting).add_(_ungrouped(torch.bmm(inputs.transpose(1, 2), _grouped(back, groups)), models))


@dataclass
class ToyModels:
    """K toy models of one width m, trained together (see train_toy_models).

    weights [K, n, m] and bias [K, 1, n] are plain tensors, updated in place
    by training. importance is [K, n]; weight_decay is [K, 1, 1] (see
    decay_weights). lr is the peak learning rate: one number, or a tensor
    broadcast to [K, 1, m + 1], the weights' rate in the first m columns and
    the bias's in the last.
    """

    weights: torch.Tensor
    bias: torch.Tensor
    importance: torch.Tensor
    weight_decay: torch.Tensor
    lr: float | torch.Tensor


def train_toy_models(
    blocks: list[ToyModels],
    *,
    probability: torch.Tensor,
    steps: int,
    batch_size: int,
    max_value: float,
    sources: list[np.random.Generator],
    progress=None,
) -> None:
    """Train blocks of toy models in place with Adam, on fresh batches shared by all blocks.

    probability [G, n] gives the G input groups (see sample_features); in a
    block of K models, group g feeds the K/G consecutive models g*K/G ..;
    every block sees the same batches. progress(done, total) is called once
    per step.

    The loss of model k is 1/B sum_b sum_i I_i (ReLU(z_bi) - x_bi)^2, its
    gradient written out by hand (see gradients). Models narrower than their
    block (zero columns, for widths padded to a common m) stay exactly
    zero-padded: zero columns get zero gradients. Each step: the gradients,
    then the decay (decay_weights), then Adam -- torch.optim.Adam's update,
    written out on one buffer holding W and b.
    """
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    states = []
    for block in blocks:
        m = block.weights.shape[2]
        params = torch.cat([block.weights, block.bias.transpose(1, 2)], dim=2)  # [K, n, m + 1]
        per_model = isinstance(block.lr, torch.Tensor)
        states.append({
            "block": block, "params": params, "W": params[:, :, :m], "grads": torch.empty_like(params),
            "exp_avg": torch.zeros_like(params), "exp_avg_sq": torch.zeros_like(params),
            "weighting": (2 / batch_size) * block.importance[:, :, None],
            "lr_weights": block.lr[:, :, :1] if per_model else block.lr, "per_model": per_model,
            "decays": bool((block.weight_decay != 0).any()),
        })
    work: dict = {}
    inputs = torch.empty(probability.shape[0], batch_size, probability.shape[1])
    for step in range(steps):
        factor = lr_factor(step, steps)
        t = step + 1
        sample_features(probability, batch_size, max_value, sources, out=inputs)
        for state in states:
            params, grads, exp_avg, exp_avg_sq = state["params"], state["grads"], state["exp_avg"], state["exp_avg_sq"]
            gradients(params, inputs, state["weighting"], grads, work)
            if state["decays"]:
                decay_weights(state["W"], state["block"].weight_decay, state["lr_weights"] * factor)
            exp_avg.lerp_(grads, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grads, grads, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**t)).add_(eps)
            if state["per_model"]:
                params.addcdiv_(exp_avg * state["block"].lr, denom, value=-factor / (1 - beta1**t))
            else:
                params.addcdiv_(exp_avg, denom, value=-state["block"].lr * factor / (1 - beta1**t))
        if progress is not None:
            progress(t, steps)
    for state in states:
        block, m = state["block"], state["W"].shape[2]
        block.weights.copy_(state["W"])
        block.bias.copy_(state["params"][:, :, m].unsqueeze(1))


# --- probes ----------------------------------------------------------------


def feature_norms(weights: torch.Tensor) -> torch.Tensor:
    """||W_i|| per model and feature: [K, n]."""
    return weights.norm(dim=-1)


def projections(weights: torch.Tensor) -> torch.Tensor:
    """P[k, i, j] = W^_i . W_j, feature j's weight along feature i's unit direction."""
    unit = weights / weights.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return unit @ weights.transpose(1, 2)


def interference(weights: torch.Tensor) -> torch.Tensor:
    """sum_{j != i} (W^_i . W_j)^2 per model and feature: [K, n]."""
    squared = projections(weights) ** 2
    return squared.sum(-1) - torch.diagonal(squared, dim1=1, dim2=2)


def feature_dimensionality(weights: torch.Tensor) -> torch.Tensor:
    """Elhage et al.'s D_i = ||W_i||^2 / sum_j (W^_i . W_j)^2: [K, n] (0 for a zero feature)."""
    squared_norm = weights.norm(dim=-1) ** 2
    total = (projections(weights) ** 2).sum(-1)
    return torch.where(total > 0, squared_norm / total.clamp_min(1e-30), torch.zeros_like(total))


def dims_per_feature(weights: torch.Tensor) -> torch.Tensor:
    """m / ||W||_F^2 per model: [K]."""
    return weights.shape[-1] / (weights**2).sum(dim=(1, 2))


def max_overlap(weights: torch.Tensor, represented: torch.Tensor) -> torch.Tensor:
    """Largest |cos| between two represented features, per model (0 with fewer than two): [K]."""
    unit = weights / weights.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cosines = (unit @ unit.transpose(1, 2)).abs()
    pair = represented[:, :, None] & represented[:, None, :]
    pair &= ~torch.eye(weights.shape[1], dtype=torch.bool)
    return torch.where(pair, cosines, torch.zeros_like(cosines)).amax(dim=(1, 2))


# --- the experiment ----------------------------------------------------------


def report_progress(logs: list):
    """A progress(done, total) callback that reports to every log."""

    def progress(done: int, total: int) -> None:
        for log in logs:
            log.progress(done, total)

    return progress


def run(config: Config, log) -> None:
    run_batch(config, [config.seed], [log])


def run_batch(config: Config, seeds: list[int], logs: list) -> None:
    """Train the density sweep of every seed at once: one batched tensor of len(seeds) x len(densities) models.

    Seed s initialises its models from torch.Generator().manual_seed(s) and
    draws its inputs from feature_source(s), whatever else runs beside it.
    """
    densities = sorted(float(d) for d in config.densities)
    per_seed, n, m = len(densities), config.n_features, config.hidden_dims
    models = per_seed * len(seeds)

    probability = torch.tensor(densities)[:, None].expand(per_seed, n).repeat(len(seeds), 1)
    importance = (config.importance_decay ** torch.arange(n, dtype=torch.float32)).expand(models, n)
    # Xavier-normal weights and zero bias, as in Elhage et al.'s notebook.
    weights = torch.cat([
        torch.randn(per_seed, n, m, generator=torch.Generator().manual_seed(seed)) * math.sqrt(2 / (n + m))
        for seed in seeds
    ])
    bias = torch.zeros(models, 1, n)
    sources = [feature_source(seed) for seed in seeds]
    train_toy_models(
        [ToyModels(weights, bias, importance, weight_decay=torch.zeros(models, 1, 1), lr=config.lr)],
        probability=probability, steps=config.steps, batch_size=config.batch_size, max_value=1.0,
        sources=sources, progress=report_progress(logs),
    )

    inputs = sample_features(probability, config.eval_size, 1.0, sources)
    loss = weighted_error(reconstruct(weights, bias, inputs), inputs, importance)
    norms = feature_norms(weights)
    represented = norms > REPRESENTED_NORM
    count = represented.sum(-1)
    leak = interference(weights)
    mean_leak = (leak * represented).sum(-1) / count.clamp_min(1)
    per_feature = feature_dimensionality(weights)
    spread = dims_per_feature(weights)
    overlap = max_overlap(weights, represented)

    for s, log in enumerate(logs):
        first = s * per_seed
        for j, density in enumerate(densities):
            k = first + j
            log(
                density, axis="density",
                features_represented=count[k], fraction_represented=count[k] / n,
                hidden_dims=m, dims_per_feature=spread[k], max_overlap=overlap[k],
                mean_interference=mean_leak[k], loss=loss[k],
            )
        sparse, dense = first, first + per_seed - 1
        for i in range(n):
            log(
                i, axis="feature",
                feature_norm_sparse=norms[sparse, i], feature_norm_dense=norms[dense, i],
                feature_dimensionality_sparse=per_feature[sparse, i],
                feature_dimensionality_dense=per_feature[dense, i],
            )
