"""Autoencoder pretraining + decoder reset + warm-up + free bits (Li et al. 2019)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor

from bench.errors import ConfigError
from remedies.base import Horizon, Remedy, TrainerView
from remedies.free_bits import check_floor, free_bits_per_example
from remedies.kl_annealing import linear_warmup
from remedies.registry import register

if TYPE_CHECKING:
    from bench.config import RunConfig


def pretrain_autoencoder(trainer: TrainerView, epochs: int) -> None:
    """`epochs` passes over the training batches at KL weight 0, in a seeded random order."""
    for _ in range(epochs):
        for batch in trainer.shuffled_train_batches():
            trainer.update(batch, kl_weight=0.0)


@register("pretrain-fb")
@dataclass
class PretrainFreeBits(Remedy):
    """Pretrain as an autoencoder, reset the decoder, then warm-up 0 -> 1 with free bits (Li et al. 2019).

    Li et al. (EMNLP-IJCNLP 2019, arXiv:1909.00868, "A Surprisingly Effective Fix
    for Deep Latent Variable Modeling of Text"): an encoder first trained as
    a plain autoencoder (KL weight 0) already maps sentences apart; the
    decoder is then re-initialised so that it cannot ignore that encoder,
    and the VAE is trained with a linear KL warm-up from 0 to 1 over
    `warmup_epochs` plus free bits per sentence and unit at
    target_kl / nz nats (their `--fb 2`), with SGD at lr 0.5 and their lr
    schedule's patience of 5 epochs (He et al.'s is 2). They pretrain to
    convergence; `pretrain_epochs` bounds that here (docs/fidelity.md).
    """

    paper = "Li et al. 2019, EMNLP, arXiv:1909.00868"

    pretrain_epochs: int = 5
    warmup_epochs: float = 10.0
    target_kl: float = 8.0
    lr: float = 0.5

    def __post_init__(self) -> None:
        if self.pretrain_epochs < 0:
            raise ConfigError(
                f"pretrain-fb: pretrain_epochs must be >= 0, got {self.pretrain_epochs}"
            )
        if self.warmup_epochs < 0:
            raise ConfigError(f"pretrain-fb: warmup_epochs must be >= 0, got {self.warmup_epochs}")
        check_floor("pretrain-fb", "target_kl", self.target_kl)
        if self.lr <= 0:
            raise ConfigError(f"pretrain-fb: lr must be > 0, got {self.lr}")

    def configure(self, cfg: RunConfig) -> RunConfig:
        """Li et al.'s learning rate and lr-halving patience (text_anneal_fb.py)."""
        cfg.train.lr = self.lr
        cfg.train.decay_patience = 5
        return cfg

    def before_training(self, trainer: TrainerView) -> None:
        """The autoencoder stage, then a fresh decoder (and fresh optimisers)."""
        pretrain_autoencoder(trainer, self.pretrain_epochs)
        trainer.reset_decoder()

    def kl_weight(self, step: int, horizon: Horizon) -> float:
        return linear_warmup(step, self.warmup_epochs * horizon.steps_per_epoch, start=0.0)

    def kl_term(self, kl_per_dim: Tensor) -> Tensor:
        return free_bits_per_example(kl_per_dim, self.target_kl / kl_per_dim.shape[-1])
