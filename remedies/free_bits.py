"""Free bits (Kingma et al. 2016): KL below a floor per latent unit costs nothing."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bench.errors import ConfigError
from remedies.base import Remedy
from remedies.registry import register


def free_bits_batch(kl_per_dim: Tensor, lam: float) -> Tensor:
    """Kingma et al.'s free bits on the batch: each unit pays max(lambda, its batch-mean KL).

    .. math:: \\frac{1}{B} \\sum_b \\text{out}_b = \\sum_d \\max(\\lambda, \\bar{KL}_d),
              \\quad \\bar{KL}_d = \\frac{1}{B} \\sum_b KL_{bd}

    `kl_per_dim` [B, nz] -> [B]. A unit whose batch mean is at or below
    lambda contributes the constant lambda (no gradient: the encoder may use
    it for free); the others contribute their per-sentence KL, so the batch
    mean of the result is exactly the objective above.

    >>> free_bits_batch(torch.tensor([[0.1, 1.0], [0.3, 3.0]]), lam=0.5).tolist()
    [1.5, 3.5]
    """
    over = kl_per_dim.mean(dim=0, keepdim=True) > lam
    return torch.where(over, kl_per_dim, torch.full_like(kl_per_dim, lam)).sum(dim=-1)


def free_bits_per_example(kl_per_dim: Tensor, lam: float) -> Tensor:
    """Li et al.'s variant: the floor applies to each sentence and unit, max(lambda, KL_bd).

    .. math:: \\text{out}_b = \\sum_d \\max(\\lambda, KL_{bd})

    Li et al.'s code masks KL_bd <= lambda to 0 instead of lambda: the same
    gradient, a constant apart.

    >>> free_bits_per_example(torch.tensor([[0.1, 1.0], [0.3, 3.0]]), lam=0.5).tolist()
    [1.5, 3.5]
    """
    return kl_per_dim.clamp(min=lam).sum(dim=-1)


def check_floor(remedy: str, name: str, value: float) -> None:
    """A KL floor must be >= 0; one clear line otherwise."""
    if value < 0:
        raise ConfigError(f"{remedy}: {name} must be >= 0, got {value}")


@register("free-bits")
@dataclass
class FreeBits(Remedy):
    """KL per latent unit clamped below lambda nats, so the first lambda are free (Kingma et al. 2016).

    Kingma et al. (NeurIPS 2016, arXiv:1606.04934) replace the KL
    term by sum_d max(lambda, KL_d), with KL_d the unit's KL averaged over
    the minibatch: the optimiser gains nothing by pushing a unit below
    lambda, so units are not switched off. `per_example=true` applies the
    floor to every sentence and unit instead, as Li et al. 2019
    (arXiv:1909.00868) do with lambda = target_kl / nz (e.g. 8/32 = 0.25).
    Only the training objective changes; reported KL is the true KL.
    """

    paper = "Kingma et al. 2016, arXiv:1606.04934; Li et al. 2019, arXiv:1909.00868"

    lam: float = 0.25
    per_example: bool = False

    def __post_init__(self) -> None:
        check_floor("free-bits", "lam", self.lam)

    def kl_term(self, kl_per_dim: Tensor) -> Tensor:
        if self.per_example:
            return free_bits_per_example(kl_per_dim, self.lam)
        return free_bits_batch(kl_per_dim, self.lam)
