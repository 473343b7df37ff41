"""How the encoder's raw outputs become q(z|x) = N(mu, diag e^logvar) under the remedies that change that
family: the BatchNorm scale of DU-VAE, its variance floor and variance dropout, and delta-VAE's bounds;
and which family q(z|x) belongs to (`posterior_family`: that Gaussian, or the vMF of bench/vmf.py).

Each stays a diagonal Gaussian, so the training KL, the IW NLL, MI and AU read it as any other posterior;
only variance dropout differs between training and evaluation (it is off in eval mode, as in the
authors' code). The transforms run in float32 even under bf16 autocast: delta-VAE's guarantee rests on
a difference of numbers near 2 delta + 1, which bf16 would round away.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.metrics import GAUSSIAN, PosteriorFamily
from bench.settings import ModelConfig
from bench.vmf import VonMisesFisher

SIGMOID_FLOOR = 1 / 50  # delta-VAE (DG-VAEs): 1 + e^-s clamped at 50, so no sigma sits on the lower bound
SQRT_MARGIN = 1e-6  # delta-VAE (DG-VAEs): added under the square root of mu^2


def posterior_family(cfg: ModelConfig) -> PosteriorFamily:
    """The family of q(z|x) and its prior that `model.posterior` names: every estimator reads it."""
    return VonMisesFisher(cfg.nz, cfg.vmf_kappa) if cfg.posterior == "vmf" else GAUSSIAN


def rescale_to_rms(weight: Tensor, target: float) -> None:
    """Rescale a learnt BatchNorm scale, in place, to root mean square `target` over the units.

    DU-VAE (SmilesDZgk/DU-VAE, GaussianLSTMEncoder.forward) does this to the weight's data before every
    pass: the optimiser moves each unit's scale freely, the rescaling keeps their sum of squares at
    nz gamma^2, so the batch's mean KL stays >= nz gamma^2 / 2 as under BN-VAE's fixed scale. Changing the
    data, not the graph, gives their gradient (none through the rescaling).
    """
    with torch.no_grad():
        weight.data.mul_(target / weight.data.pow(2).mean().sqrt())


def floored_logvar(logvar: Tensor, floor: float, dropout: float, training: bool) -> Tensor:
    """log(e^logvar + floor), the variance above the floor dropped per unit with rate `dropout` in training.

    DU-VAE's parameterisation (LSTMEncoder.forward and GaussianEncoderBase.encode): the floor alpha /
    (2 pi e) keeps each unit's entropy >= 0; dropout on what lies above it (torch.dropout: zero with
    probability p, the rest scaled by 1 / (1 - p)) sends a dropped unit's variance to the floor.
    Dropping e^logvar itself equals their round trip through log(var + floor) and back.
    """
    variance = logvar.float().exp()
    if training and dropout > 0:
        variance = F.dropout(variance, dropout, training=True)
    return torch.log(variance + floor)


def sigma_bounds(delta: float) -> tuple[float, float]:
    """(sigma_l, sigma_u): the two standard deviations whose unit KL at mean 0 is exactly `delta`.

    The variances solve ln v - v + 2 delta + 1 = 0 (Razavi et al. 2019, Eq. 4), one root below 1, one
    above; DG-VAEs (DeltaGaussianLSTMEncoder) solves it with sympy. In t = ln v, g(t) = t - e^t + c
    (c = 2 delta + 1) rises on t < 0 and falls on t > 0, with g(-c - 1) < 0 < g(0) and g(ln 2c) < 0, so
    bisection on each side finds both to float64 precision, however small sigma_l gets.
    """
    if delta <= 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    c = 2 * delta + 1

    def root(below: float, above: float) -> float:  # g(below) < 0 < g(above)
        for _ in range(200):
            middle = (below + above) / 2
            if middle - math.exp(middle) + c < 0:
                below = middle
            else:
                above = middle
        return (below + above) / 2

    return math.exp(root(-c - 1, 0.0) / 2), math.exp(root(math.log(2 * c), 0.0) / 2)


def delta_posterior(
    mu: Tensor, logvar: Tensor, delta: float, bounds: tuple[float, float]
) -> tuple[Tensor, Tensor]:
    """delta-VAE's mean and log-variance from the raw ones: every unit's KL = delta + relu(mu) / 2 + 5e-7.

    As DG-VAEs' DeltaGaussianLSTMEncoder.input_to_posterior: sigma = sigma_l + (sigma_u - sigma_l) x
    sigmoid(logvar) with the sigmoid floored at 1/50; then mu = sqrt(2 delta + 1 + ln sigma^2 - sigma^2
    + relu(mu) + 1e-6), so 0.5 (mu^2 + sigma^2 - ln sigma^2 - 1) >= delta. The mean is never negative.
    The term under the root that the bounds keep >= 0 is clamped at 0 against rounding at sigma_u
    (NaN there otherwise once delta is large).
    """
    low, high = bounds
    gate = 1 / (1 + torch.exp(-logvar.float())).clamp(max=1 / SIGMOID_FLOOR)
    std = low + (high - low) * gate
    logvar = torch.log(std**2)
    room = (2 * delta + 1 + logvar - logvar.exp()).clamp_min(0)
    return torch.sqrt(room + mu.float().clamp_min(0) + SQRT_MARGIN), logvar
