"""delta-VAE (Razavi et al. 2019): a posterior family whose every member is at least delta from the prior."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.errors import ConfigError
from remedies.base import Remedy
from remedies.registry import register

if TYPE_CHECKING:
    from bench.config import RunConfig


@register("delta-vae")
@dataclass
class DeltaVAE(Remedy):
    """Posterior sigma bounded and mu set from it, so every unit's KL is >= delta nats (Razavi et al. 2019).

    Razavi et al. (ICLR 2019, arXiv:1901.03416) commit the posterior to a
    minimum rate instead of changing the objective: with sigma kept between
    the two roots of KL(N(0, sigma^2) || N(0, 1)) = delta and the mean's
    square making up the rest, no member of the family is closer than delta
    per unit to the prior, so the KL cannot vanish. Their code is not
    public; this is the LSTM-encoder form of zhangjf-nlp/DG-VAEs
    (`DeltaGaussianLSTMEncoder`), delta 0.15 as there. The encoder
    implements it (`model.delta_kl`); this remedy turns it on.
    """

    paper = "Razavi et al. 2019, ICLR, arXiv:1901.03416"

    delta: float = 0.15

    def __post_init__(self) -> None:
        if self.delta <= 0:
            raise ConfigError(f"delta-vae: delta must be > 0, got {self.delta}")

    def configure(self, cfg: RunConfig) -> RunConfig:
        """Turn on the committed-rate posterior at this delta."""
        cfg.model.delta_kl = self.delta
        return cfg
