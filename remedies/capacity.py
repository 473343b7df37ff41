"""A KL capacity (Burgess et al. 2018; Prokhorov et al. 2019): gamma |KL - C|, C raised over training."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bench.errors import ConfigError
from remedies.base import Horizon, Remedy, parameter
from remedies.registry import register


def capacity_at(step: int, horizon: Horizon, target: float, epochs: float) -> float:
    """C at training step `step` (from 0): a linear rise to `target` over `epochs` epochs, then `target`.

    .. math:: C_t = C \\min(1, (t + 1) / (E \\cdot \\text{steps per epoch}))

    Prokhorov et al.'s `kl_div_loss`: min(C, C x step / n), the step counted
    from 1 before each batch and n two epochs of batches. `epochs` 0: C from
    the first step.

    >>> capacity_at(49, Horizon(steps_per_epoch=50, epochs=10), target=15.0, epochs=2.0)
    7.5
    """
    if epochs <= 0:
        return target
    return target * min(1.0, (step + 1) / (epochs * horizon.steps_per_epoch))


def capacity_loss(kl_per_dim: Tensor, capacity: float, gamma: float) -> Tensor:
    """gamma |mean_b KL_b - C| on the batch, given to every sentence, so its batch mean is the objective.

    .. math:: \\text{out}_b = \\gamma \\left| \\frac{1}{B} \\sum_{b'} KL_{b'} - C \\right|

    `kl_per_dim` [B, nz] -> [B]. The gradient is gamma sign(mean KL - C) times
    that of the mean KL: the KL is pulled up towards C from below and down
    from above, the batch's mean, not each sentence's.

    >>> capacity_loss(torch.tensor([[1.0, 0.0], [3.0, 0.0]]), capacity=5.0, gamma=2.0).tolist()
    [6.0, 6.0]
    """
    gap = (kl_per_dim.sum(dim=-1).mean() - capacity).abs()
    return (gamma * gap).expand(kl_per_dim.shape[0])


@register("capacity")
@dataclass
class Capacity(Remedy):
    """The KL term becomes gamma |KL - C|, the capacity C raised linearly to a target (Burgess et al. 2018).

    Burgess et al. (arXiv:1804.03599) replace the KL of the beta-VAE by
    gamma |KL - C| and raise C from 0 over training, so the encoder is
    asked for C nats, no more and no less. Prokhorov et al. (WNGT 2019,
    arXiv:1909.13668) use it for text; as their code
    (VictorProkhorov/KL_Text_VAE, Scripts/Model/model_wngt.py,
    `kl_div_loss`): gamma = 1, the KL inside |.| the batch mean, C rising
    linearly from 0 to its target over the first 2 epochs (`epochs`), then
    fixed. The target C is required in their script; they train with 3, 15,
    60 and 100 nats: 15 is the default here.

    The objective has no other KL term and no KL weight, so this remedy
    takes over both (the KL term is 0, the weight 1): it does not combine
    with a KL weight schedule or another KL term. At `target` 0 (gamma 1)
    it is the plain VAE.
    """

    paper = "Burgess et al. 2018, arXiv:1804.03599; Prokhorov et al. 2019, WNGT, arXiv:1909.13668"

    target: float = parameter(15.0, neutral=0.0)
    gamma: float = 1.0
    epochs: float = 2.0

    def __post_init__(self) -> None:
        for name in ("target", "gamma", "epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"capacity: {name} must be >= 0, got {getattr(self, name)}")

    def kl_weight(self, step: int, horizon: Horizon) -> float:
        """1: the capacity term carries its own weight gamma."""
        return 1.0

    def kl_term(self, kl_per_dim: Tensor) -> Tensor:
        """0: the KL enters only through the capacity term."""
        return torch.zeros_like(kl_per_dim[:, 0])

    def extra_loss(self, kl_per_dim: Tensor, step: int, horizon: Horizon) -> Tensor:
        return capacity_loss(kl_per_dim, capacity_at(step, horizon, self.target, self.epochs), self.gamma)
