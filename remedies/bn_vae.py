"""BN-VAE (Zhu et al. 2020): batch normalisation on the posterior mean with a fixed scale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.errors import ConfigError
from remedies.base import Remedy
from remedies.registry import register

if TYPE_CHECKING:
    from bench.config import RunConfig


@register("bn-vae")
@dataclass
class BNVAE(Remedy):
    """BatchNorm on the encoder mean with scale fixed at gamma: batch KL >= nz gamma^2 / 2 (Zhu et al. 2020).

    Zhu et al. (ACL 2020, arXiv:2004.12585) note that the expected KL over
    a batch is at least half the summed second moment of the posterior
    means; normalising each mean unit to variance gamma^2 (learnable shift,
    frozen scale) therefore keeps it above nz gamma^2 / 2. BatchNorm divides
    by sqrt(variance + eps) (eps 1e-5, PyTorch's default and their code's),
    so the floor holds only while the raw means vary well above eps: in
    the zhu2020 suite they fell far below it at a constant KL weight and
    the KL with them (docs/results.md). The encoder implements the layer
    (`model.bn_gamma`); this remedy turns it on. Default gamma 0.5.

    As their code (valdersoul/bn-vae), by default (`authors_init`) the
    encoder keeps PyTorch's initialisation where a run would use He et al.'s
    reference init for both halves (`model.init = "pytorch-encoder"`), and
    the lr schedule waits 5 epochs without improvement before halving.
    """

    paper = "Zhu et al. 2020, ACL, arXiv:2004.12585"

    gamma: float = 0.5
    authors_init: bool = True

    def __post_init__(self) -> None:
        if self.gamma <= 0:
            raise ConfigError(f"bn-vae: gamma must be > 0, got {self.gamma}")

    def configure(self, cfg: RunConfig) -> RunConfig:
        """Turn on BatchNorm on mu with this fixed scale; their init and lr patience."""
        cfg.model.bn_gamma = self.gamma
        cfg.train.decay_patience = 5
        if self.authors_init and cfg.model.init == "reference":
            cfg.model.init = "pytorch-encoder"
        return cfg
