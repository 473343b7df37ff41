"""DU-VAE (Shen et al. 2021): BatchNorm on the posterior mean, dropout on its variance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.errors import ConfigError
from remedies.base import Horizon, Remedy
from remedies.kl_annealing import linear_warmup
from remedies.registry import register

if TYPE_CHECKING:
    from bench.config import RunConfig


SMALLEST_BATCH = 16  # their text.py: `if batch_data.size(0) < 16: continue`


@register("du-vae")
@dataclass
class DUVAE(Remedy):
    """BatchNorm on the mean at RMS scale gamma, dropout on the variance above a floor (Shen et al. 2021).

    Shen et al. (IJCAI 2021, arXiv:2110.12381) keep the posterior means
    diverse with BN-VAE's BatchNorm (the batch KL >= nz gamma^2 / 2 while
    the raw means vary well above BatchNorm's eps, `remedies/bn_vae.py`), and its
    variances small by dropping, in training, each unit's variance above the
    floor alpha / (2 pi e) (rate `dropout`): a dropped unit must be coded
    near-deterministically. As their code (SmilesDZgk/DU-VAE, text.py and
    the README's text example): gamma 0.5, dropout 0.2, alpha 1, the KL
    weight warmed up from 0 over 10 epochs, the encoder at PyTorch's
    initialisation (`authors_init`), lr patience 5 epochs; the floor and
    dropout act only once the KL weight is 1 (`model.var_gate`), and
    training batches of fewer than 16 sentences are skipped
    (`train.min_batch`; their batch size is 32, and at a batch size under
    16 the floor is the batch size). At evaluation there is no dropout and BatchNorm uses
    its running statistics.
    """

    paper = "Shen et al. 2021, IJCAI, arXiv:2110.12381"

    gamma: float = 0.5
    dropout: float = 0.2
    alpha: float = 1.0
    warmup_epochs: float = 10.0
    authors_init: bool = True

    def __post_init__(self) -> None:
        if self.gamma <= 0:
            raise ConfigError(f"du-vae: gamma must be > 0, got {self.gamma}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"du-vae: dropout must be in [0, 1), got {self.dropout}")
        if self.alpha <= 0:
            raise ConfigError(f"du-vae: alpha must be > 0, got {self.alpha}")
        if self.warmup_epochs < 0:
            raise ConfigError(f"du-vae: warmup_epochs must be >= 0, got {self.warmup_epochs}")

    def configure(self, cfg: RunConfig) -> RunConfig:
        """Their encoder: BatchNorm on mu at RMS scale gamma, the variance floor and its dropout; their init
        and lr patience."""
        cfg.model.bn_gamma = self.gamma
        cfg.model.bn_scale = "rms"
        cfg.model.var_floor = self.alpha / (2 * math.pi * math.e)
        cfg.model.var_dropout = self.dropout
        cfg.model.var_gate = True
        cfg.train.min_batch = min(SMALLEST_BATCH, cfg.train.batch_size)  # a small batch size still trains
        cfg.train.decay_patience = 5
        if self.authors_init and cfg.model.init == "reference":
            cfg.model.init = "pytorch-encoder"
        return cfg

    def kl_weight(self, step: int, horizon: Horizon) -> float:
        return linear_warmup(step, self.warmup_epochs * horizon.steps_per_epoch, start=0.0)
