"""Predict the clean data, not the noise: x-, ε- and v-prediction as the ambient dimension grows.

Li & He (2025), "Back to Basics: Let Denoising Generative Models Denoise"
(arXiv:2511.13720, the JiT paper), argue that what a denoising network is asked
to output matters once the data lie on a low-dimensional manifold inside a
high-dimensional space. Their toy experiment (Sec. 3, Fig. 2): 2D data are
embedded in D dimensions by a fixed random D×2 matrix P with orthonormal
columns, and a small ReLU MLP (5 layers, 256 hidden units) is trained as a
flow-matching denoiser in three ways. With

    z_t = t·x + (1 - t)·ε,   ε ~ N(0, I_D),   t ∈ [0, 1] (t = 1 is clean data),
    v   = x - ε              (the velocity dz_t/dt),

the network outputs x̂ (x-prediction), ε̂ (ε-prediction) or v̂ (v-prediction),
and the velocity used for the loss and for sampling follows algebraically:

    x-pred:  v̂ = (x̂ - z) / (1 - t)
    ε-pred:  v̂ = (z - ε̂) / t
    v-pred:  v̂ is the output.

All three minimise the same v-loss E‖v̂ - v‖², as in JiT (which clips the
denominators at 0.05). Samples come from integrating dz/dt = v̂(z, t) from
Gaussian noise at t = 0 to t = 1.

The signature: at D = 2 all three generate the data. As D grows, ε- and
v-prediction fail -- already below the network's width, and catastrophically
beyond it -- while x-prediction still generates the spiral. The reason is
the manifold assumption: x lies on a 2D manifold, but ε and v = x - ε fill all
D dimensions. The last layer of an MLP maps `width` hidden units to D outputs,
so when D > width its output lies in a `width`-dimensional affine subspace.
Along the directions it cannot reach, a v-predictor's velocity is constant, so
the starting noise there is never removed (off-plane norm ≳ sqrt(D - width));
an ε-predictor's velocity (z - ε̂)/t amplifies the unreached part of z by a
factor of about e/t_clip ≈ 54 (samples blow up); an x-predictor's velocity
(x̂ - z)/(1 - t) pulls every direction of z toward x̂, which only has to lie
in the 2-plane. For D below the width the targets are representable but a
D-dimensional identity-like map must be learnt precisely, and the errors grow
with D.

The experiment. For each D in `dims`: draw P, train three MLPs side by side
(stacked into one batched network; same batches of data, noise and t, same
steps), evaluate the v-loss on a held-out set, sample `n_samples` points from
the same starting noise with each, and measure them against the spiral. The
spiral is one and a half turns, radius 0.6 to 2.5 (per-coordinate std ~1.1,
like the noise). At this budget ε-prediction is already blurred at D = 2: its
target near t = 1, (z - x)/(1 - t), varies on the scale 1 - t and a 64-wide
MLP fits it only roughly; the signature is its collapse as D grows.

Probes, one point per D on the axis "dim":

- `dist_x`, `dist_eps`, `dist_v`: mean Euclidean distance, in the full
  D-dimensional space, from a generated sample to the nearest point of the
  embedded spiral (a dense reference set). Arms are 1.26 apart; samples of a
  Gaussian with the data's covariance score 0.43 at D = 2.
- `offmanifold_x`, `offmanifold_eps`, `offmanifold_v`: mean norm of the part
  of a sample orthogonal to the spiral's 2-plane (0 for perfect samples,
  about sqrt(D - 2) for untouched noise).
- `loss_x`, `loss_eps`, `loss_v`: the v-loss of each trained network on a
  fixed held-out set of (x, ε, t), the quantity all three minimise. Its
  Bayes-optimal value does not depend on D (the off-plane part of z carries no
  information about x), so growth with D is error of the network.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

TITLE = "x-prediction still generates a spiral embedded in 128 dimensions; ε- and v-prediction fail"

# The three parameterisations, in the order they are stacked in the batched MLP.
PREDICTIONS = ("x", "eps", "v")


@dataclass
class Config:
    seed: int = 0
    # Ambient dimensions D. JiT Fig. 2 uses 2, 8, 16, 512 with width 256; the
    # same shape scaled to width 64: three values below the width, the last at
    # twice it (as 512 is twice 256).
    dims: tuple = (2, 8, 32, 128)
    # Hidden units per layer (JiT: 256). 64 keeps the default run at ~22 s of CPU.
    width: int = 64
    # Hidden layers, so depth + 1 linear layers (JiT's toy MLP has 5).
    depth: int = 4
    # Adam steps per D. Measured on seed 0 at D = 2: dist_eps 0.25 / 0.23 / 0.17
    # after 1500 / 2500 / 5000 steps (x: 0.10 / 0.05 / 0.03); at D = 128 more
    # steps change nothing.
    steps: int = 2500
    batch_size: int = 256
    lr: float = 3e-3
    # Training noise levels t = sigmoid(N(mean, std)). JiT uses (-0.8, 0.8),
    # tuned for ImageNet; on the spiral it starves t near 1 and blurs every
    # parameterisation (measured on seed 0 at D = 2: dist_x 0.27 vs 0.05).
    t_logit_mean: float = 0.0
    t_logit_std: float = 1.0
    # Clip of the denominators 1 - t and t in the velocity conversions (JiT: 0.05).
    t_clip: float = 0.05
    # Euler steps from noise (t = 0) to data (t = 1). JiT samples with 50 Heun
    # steps; on this toy Heun-50 and Euler-200 change dist by < 0.005.
    sample_steps: int = 50
    n_samples: int = 1000
    # Points on the reference spiral for the nearest-point distance; neighbours
    # are < 0.006 apart, far below the distances the claims compare.
    n_reference: int = 4000


# Angles covered by the spiral: one and a half turns, starting off-centre so
# that the arms are well separated (0.2·2π ≈ 1.26 between arms).
SPIRAL_ANGLES = (3.0, 3.0 + 3 * math.pi)


def spiral(angle: torch.Tensor) -> torch.Tensor:
    """Points of the 2D spiral r = 0.2·angle at the given angles, shape (..., 2)."""
    radius = 0.2 * angle
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=-1)


def sample_spiral(n: int, generator: torch.Generator) -> torch.Tensor:
    """n points uniformly in angle along the spiral, shape (n, 2)."""
    low, high = SPIRAL_ANGLES
    angle = low + (high - low) * torch.rand(n, generator=generator)
    return spiral(angle)


def reference_spiral(n: int) -> torch.Tensor:
    """A dense, evenly spaced set of points on the spiral, shape (n, 2)."""
    return spiral(torch.linspace(*SPIRAL_ANGLES, n))


def orthonormal_embedding(dim: int, generator: torch.Generator) -> torch.Tensor:
    """A random D×2 matrix with orthonormal columns (the fixed projection P)."""
    gaussian = torch.randn(dim, 2, generator=generator)
    q, r = torch.linalg.qr(gaussian)
    # Fix the sign ambiguity of QR so the matrix depends only on the draw.
    return q * torch.sign(torch.diagonal(r))


def spiral_distance(samples: torch.Tensor, embedding: torch.Tensor, reference: torch.Tensor):
    """Per-sample distance to the embedded spiral and norm off its 2-plane.

    The distance is exact in D dimensions: the squared in-plane distance to the
    nearest reference point plus the squared off-plane norm.
    """
    in_plane = samples @ embedding
    off_plane = samples - in_plane @ embedding.T
    off_norm = off_plane.norm(dim=-1)
    nearest = torch.cdist(in_plane, reference).min(dim=-1).values
    return torch.sqrt(nearest**2 + off_norm**2), off_norm


def velocity(prediction: str, output: torch.Tensor, z: torch.Tensor, t: torch.Tensor, t_clip: float):
    """The velocity v̂ implied by a network output under one parameterisation."""
    if prediction == "x":
        return (output - z) / (1 - t).clamp(min=t_clip)
    if prediction == "eps":
        return (z - output) / t.clamp(min=t_clip)
    if prediction == "v":
        return output
    raise ValueError(f"unknown prediction {prediction!r}; expected one of {PREDICTIONS}")


class StackedMLP(torch.nn.Module):
    """Independent ReLU MLPs, one per parameterisation, evaluated as one batched matmul.

    Adam updates each weight element on its own, so training the stack is the
    same as training the members separately; batching only saves overhead.
    """

    def __init__(self, members: int, dim: int, width: int, depth: int, generator: torch.Generator):
        super().__init__()
        sizes = [dim + 1] + [width] * depth + [dim]  # input: z_t and t
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            # PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from our generator.
            bound = 1 / math.sqrt(fan_in)
            weight = (2 * torch.rand(members, fan_in, fan_out, generator=generator) - 1) * bound
            bias = (2 * torch.rand(members, 1, fan_out, generator=generator) - 1) * bound
            self.weights.append(torch.nn.Parameter(weight))
            self.biases.append(torch.nn.Parameter(bias))

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """z: (members, n, D), t: (members, n, 1) -> outputs (members, n, D)."""
        hidden = torch.cat([z, t], dim=-1)
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            hidden = torch.baddbmm(bias, hidden, weight)
            if i < last:
                hidden = torch.relu(hidden)
        return hidden


def stacked_velocity(model: StackedMLP, z: torch.Tensor, t: torch.Tensor, t_clip: float) -> torch.Tensor:
    """v̂ of every member; z: (members, n, D), t: (members, n, 1)."""
    output = model(z, t)
    return torch.stack(
        [velocity(p, output[i], z[i], t[i], t_clip) for i, p in enumerate(PREDICTIONS)]
    )


def v_loss(model: StackedMLP, x: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, t_clip: float):
    """The v-loss of every member on one batch, shape (members,).

    As in JiT, the target goes through the same clipped conversion as the
    prediction (it is the velocity implied by the true x, ε or v), so the
    clip changes the weighting near t = 0 or 1 but not the optimal output.
    """
    members = len(PREDICTIONS)
    z = t * x + (1 - t) * noise
    v_hat = stacked_velocity(model, z.expand(members, -1, -1), t.expand(members, -1, -1), t_clip)
    truth = {"x": x, "eps": noise, "v": x - noise}
    v_target = torch.stack([velocity(p, truth[p], z, t, t_clip) for p in PREDICTIONS])
    return ((v_hat - v_target) ** 2).sum(dim=-1).mean(dim=-1)


def sample_time(n: int, config: Config, generator: torch.Generator) -> torch.Tensor:
    """Noise levels t for a batch, shape (n, 1): logit-normal, t = sigmoid(N(mean, std)), as in JiT."""
    normal = torch.randn(n, 1, generator=generator)
    return torch.sigmoid(config.t_logit_mean + config.t_logit_std * normal)


def train_and_sample(config: Config, dim: int, generator: torch.Generator) -> dict[str, float]:
    """Train x-, ε- and v-prediction at one ambient dimension; return the probes."""
    members = len(PREDICTIONS)
    embedding = orthonormal_embedding(dim, generator)
    model = StackedMLP(members, dim, config.width, config.depth, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    # Cosine decay to zero: the last steps at a small learning rate sharpen the samples.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps)

    for _ in range(config.steps):
        # One batch shared by the three members, so they differ only in what they predict.
        x = sample_spiral(config.batch_size, generator) @ embedding.T
        noise = torch.randn(config.batch_size, dim, generator=generator)
        t = sample_time(config.batch_size, config, generator)
        loss = v_loss(model, x, noise, t, config.t_clip)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
        schedule.step()

    probes: dict[str, float] = {}
    with torch.no_grad():
        # Held-out v-loss on a fixed set of (x, ε, t), full batch.
        x = sample_spiral(config.n_samples, generator) @ embedding.T
        noise = torch.randn(config.n_samples, dim, generator=generator)
        t = sample_time(config.n_samples, config, generator)
        eval_loss = v_loss(model, x, noise, t, config.t_clip)

        # Euler integration of dz/dt = v̂ from the same noise for all three members.
        z = torch.randn(config.n_samples, dim, generator=generator).expand(members, -1, -1)
        dt = 1.0 / config.sample_steps
        for k in range(config.sample_steps):
            t = torch.full((members, config.n_samples, 1), k * dt)
            z = z + dt * stacked_velocity(model, z, t, config.t_clip)

        reference = reference_spiral(config.n_reference)
        for i, prediction in enumerate(PREDICTIONS):
            distance, off_norm = spiral_distance(z[i], embedding, reference)
            probes[f"dist_{prediction}"] = distance.mean().item()
            probes[f"offmanifold_{prediction}"] = off_norm.mean().item()
            probes[f"loss_{prediction}"] = eval_loss[i].item()
    return probes


def run(config: Config, log) -> None:
    for dim in sorted(config.dims):
        # A generator per D, so that a point does not depend on which other D are swept.
        generator = torch.Generator().manual_seed(config.seed * 100_003 + dim)
        log(dim, axis="dim", **train_and_sample(config, dim, generator))


# Thresholds from seeds 0-5 of the default config (docs/phenomena/loss-parameterization.md).
CLAIMS = [
    # D = 2: all three generate the spiral (x and v sharply, ε blurred).
    "at(dist_x, 2) < 0.15",
    "at(dist_v, 2) < 0.2",
    "at(dist_eps, 2) < 0.3",
    # D = 128, twice the width: x-prediction still lands on the spiral ...
    "final(dist_x) < 0.3",
    # ... while v-prediction keeps the noise and ε-prediction blows up.
    "final(dist_v) > 20 * final(dist_x)",
    "final(dist_eps) > 500 * final(dist_x)",
    "final(offmanifold_v) > 20 * final(offmanifold_x)",
    # Below the width v-prediction is already clearly worse.
    "at(dist_v, 32) > 4 * at(dist_x, 32)",
    # x-prediction's loss does not grow with D; v-prediction's does.
    "final(loss_x) < 1.3 * at(loss_x, 2)",
    "final(loss_v) > 5 * final(loss_x)",
]

QUICK = {"dims": (2, 16), "width": 16, "depth": 2, "steps": 30, "n_samples": 200, "sample_steps": 10}
