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

The experiment. One model per feature density 1 - S on a log grid is trained
from the seed, all at once as one batched tensor (the models are independent;
only the arithmetic is shared), and probed after training.

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

CLAIMS = [
    # Dense limit: about m features kept ...
    "final(features_represented) between 0.8 * final(hidden_dims) and 1.2 * final(hidden_dims)",
    # ... nearly orthogonal, one dimension each.
    "final(max_overlap) < 0.1",
    "final(dims_per_feature) >= 0.9",
    # Sparse limit: more features than dimensions ...
    "initial(features_represented) >= 2 * initial(hidden_dims)",
    # ... packed at half a dimension or less each (antipodal pairs, polygons).
    "initial(dims_per_feature) <= 0.5",
    # Somewhere on the way two features share one line, in opposite directions.
    "max(max_overlap) >= 0.95",
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


def sample_features(
    probability: torch.Tensor, batch_size: int, max_value: float, generator: torch.Generator
) -> torch.Tensor:
    """Sparse inputs [K, B, n]: feature i is active with probability[k, i], then uniform on [0, max_value].

    One uniform draw u per entry does both jobs: the feature is active when
    u < p, and then u / p is itself uniform on [0, 1). One draw instead of
    two halves the cost of sampling.
    """
    models, n = probability.shape
    uniform = torch.rand(models, batch_size, n, generator=generator)
    scaled = uniform / probability[:, None, :]
    return torch.where(scaled < 1, scaled * max_value, torch.zeros_like(scaled))


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


def decay_weights(weights: torch.Tensor, rate: torch.Tensor, lr: float) -> None:
    """Decoupled weight decay, per model, with Liu, Liu & Gore's sign convention.

    rate >= 0 is ordinary decay, W <- (1 - lr rate) W, which prunes rare
    features (weak superposition). rate < 0 is "weight growth": every row W_i
    moves toward unit norm, W_i <- W_i + lr rate (1 - 1/||W_i||) W_i, so every
    feature gets represented (strong superposition). `rate` is [K, 1, 1].
    """
    if not bool((rate != 0).any()):
        return
    shrunk = weights * (1 - lr * rate)
    row_norm = weights.norm(dim=-1, keepdim=True)
    grown = weights + lr * rate * (1 - 1 / (row_norm + 1e-8)) * weights
    weights.copy_(torch.where(rate >= 0, shrunk, grown))


def train_toy_models(
    *,
    weights: torch.Tensor,
    bias: torch.Tensor,
    probability: torch.Tensor,
    importance: torch.Tensor,
    steps: int,
    batch_size: int,
    max_value: float,
    lr_weights: float,
    lr_bias: float,
    weight_decay: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """Train K toy models in place with Adam on fresh batches; returns the training loss [steps, K].

    weights [K, n, m] and bias [K, 1, n] are leaf tensors with requires_grad;
    probability and importance are [K, n]; weight_decay is [K, 1, 1] (see
    decay_weights). Each model's loss is its own, so summing them for one
    backward pass gives every model exactly its own gradient.
    """
    optimizer = torch.optim.Adam([{"params": [weights], "lr": lr_weights},
                                  {"params": [bias], "lr": lr_bias}])
    peak = [lr_weights, lr_bias]
    losses = torch.empty(steps, weights.shape[0])
    for step in range(steps):
        factor = lr_factor(step, steps)
        for group, lr in zip(optimizer.param_groups, peak):
            group["lr"] = lr * factor
        inputs = sample_features(probability, batch_size, max_value, generator)
        loss = weighted_error(reconstruct(weights, bias, inputs), inputs, importance)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        with torch.no_grad():
            decay_weights(weights, weight_decay, lr_weights * factor)
        optimizer.step()
        losses[step] = loss.detach()
    return losses


def init_weights(models: int, n: int, m: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian rows of expected norm ~1 (std 1/sqrt(m)), as Liu, Liu & Gore initialise."""
    return torch.randn(models, n, m, generator=generator) / math.sqrt(m)


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


def run(config: Config, log) -> None:
    generator = torch.Generator().manual_seed(config.seed)
    densities = sorted(float(d) for d in config.densities)
    models, n, m = len(densities), config.n_features, config.hidden_dims

    probability = torch.tensor(densities)[:, None].expand(models, n).contiguous()
    importance = (config.importance_decay ** torch.arange(n, dtype=torch.float32)).expand(models, n)
    # Xavier-normal weights and zero bias, as in Elhage et al.'s notebook.
    weights = (torch.randn(models, n, m, generator=generator) * math.sqrt(2 / (n + m))).requires_grad_()
    bias = torch.zeros(models, 1, n, requires_grad=True)
    train_toy_models(
        weights=weights, bias=bias, probability=probability, importance=importance,
        steps=config.steps, batch_size=config.batch_size, max_value=1.0,
        lr_weights=config.lr, lr_bias=config.lr,
        weight_decay=torch.zeros(models, 1, 1), generator=generator,
    )

    with torch.no_grad():
        inputs = sample_features(probability, config.eval_size, 1.0, generator)
        loss = weighted_error(reconstruct(weights, bias, inputs), inputs, importance)
        trained = weights.detach()
        norms = feature_norms(trained)
        represented = norms > REPRESENTED_NORM
        count = represented.sum(-1)
        leak = interference(trained)
        mean_leak = (leak * represented).sum(-1) / count.clamp_min(1)
        per_feature = feature_dimensionality(trained)
        spread = dims_per_feature(trained)
        overlap = max_overlap(trained, represented)

    for k, density in enumerate(densities):
        log(
            density, axis="density",
            features_represented=count[k], fraction_represented=count[k] / n,
            hidden_dims=m, dims_per_feature=spread[k], max_overlap=overlap[k],
            mean_interference=mean_leak[k], loss=loss[k],
        )
    sparse, dense = 0, models - 1
    for i in range(n):
        log(
            i, axis="feature",
            feature_norm_sparse=norms[sparse, i], feature_norm_dense=norms[dense, i],
            feature_dimensionality_sparse=per_feature[sparse, i],
            feature_dimensionality_dense=per_feature[dense, i],
        )
