"""vMF-VAE (Xu & Durrett 2018): a von Mises-Fisher posterior of fixed concentration, so a constant KL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.errors import ConfigError
from remedies.base import Remedy
from remedies.registry import register

if TYPE_CHECKING:
    from bench.config import RunConfig


@register("vmf")
@dataclass
class VonMisesFisherVAE(Remedy):
    """q(z|x) = vMF(mu(x), kappa) on the unit sphere, kappa fixed, prior uniform on it (Xu & Durrett 2018).

    Xu & Durrett (EMNLP 2018, arXiv:1808.10805; code jiacheng-xu/vmf_vae_nlp)
    replace the Gaussian posterior by a von Mises-Fisher one whose
    concentration is a hyperparameter: its KL to the uniform prior is then the
    same constant for every sentence, so the objective has no pull towards
    the prior and the KL cannot collapse; the encoder only chooses the mean
    direction. kappa 80 is their code's PTB and Yelp language-model setting.
    In training the decoder reads the mean of `draws` vMF draws, as their
    `RNNVAE.forward` does with `--nsample` (default 3); `draws=1` is one draw,
    the ELBO's estimator (docs/fidelity.md). The encoder and the metrics
    implement the family (`model.posterior`, bench/vmf.py); this remedy turns
    it on.
    """

    paper = "Xu & Durrett 2018, EMNLP, arXiv:1808.10805"

    kappa: float = 80.0
    draws: int = 3

    def __post_init__(self) -> None:
        if self.kappa <= 0:
            raise ConfigError(f"vmf: kappa must be > 0, got {self.kappa}")
        if self.draws < 1:
            raise ConfigError(f"vmf: draws must be >= 1, got {self.draws}")

    def configure(self, cfg: RunConfig) -> RunConfig:
        """Turn on the vMF posterior at this concentration, the decoder reading the mean of `draws`."""
        cfg.model.posterior = "vmf"
        cfg.model.vmf_kappa = self.kappa
        cfg.model.vmf_draws = self.draws
        return cfg
