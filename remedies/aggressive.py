"""Aggressive inference-network training (He et al. 2019, Algorithm 1)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.errors import ConfigError
from remedies.base import Remedy, TrainerView
from remedies.registry import register

if TYPE_CHECKING:
    from bench.data.batching import Batch


STOP_MI = {"batch": "mi_batch", "whole": "mi"}  # estimate -> key of the validation metrics


@register("aggressive")
@dataclass
class Aggressive(Remedy):
    """Inner encoder-only steps until the encoder catches up, then one decoder step (He et al. 2019).

    He et al. (ICLR 2019, arXiv:1901.05534) trace collapse to an inference
    network that lags behind the true posterior. While aggressive, each
    batch first gets encoder-only SGD steps, on the batch and then on random
    training batches, until the per-word loss of a `check_every`-step window
    stops going down (at most `max_inner` steps); then the decoder alone
    takes one step on the batch. After each epoch, if the whole-set
    validation MI fell below the previous epoch's (0 before the first, as
    in their code), aggressive mode ends for good and training is plain VAE
    training. Their code (jxhe/vae-lagging-encoder, text.py) loops
    `while sub_iter < 100` from 1: at most 99 inner steps, the default.
    Combine with `kl-annealing` for their "aggressive + anneal" rows.

    `stop_mi` names the MI estimate the stop rule reads: "batch" is their
    code's (validation cut into batches as the training set is, each its
    own aggregate posterior, analytic entropy), "whole" the harness's whole-set
    estimate (exactly 0 on a collapsed encoder, so aggressive mode then never
    ends). As in their code, the batch estimate's sample is drawn afresh each
    epoch (keyed by seed and epoch, so a resumed run draws the same), so on a
    collapsed encoder it scatters around 0 and the rule ends aggressive mode.

    `min_epochs` defers the stop rule: aggressive mode lasts at least that
    many epochs (their code: 1). The rule is checked once per epoch, so on a
    small corpus (ptb-small: 106 batches an epoch, against ~3,100 on Yahoo)
    it can end aggressive mode before the encoder has caught up.
    """

    paper = "He et al. 2019, ICLR, arXiv:1901.05534"

    max_inner: int = 99
    check_every: int = 15
    min_epochs: int = 1
    stop_mi: str = "batch"
    active: bool = dataclasses.field(default=True, init=False)
    previous_mi: float = dataclasses.field(default=0.0, init=False)
    inner_steps: list[int] = dataclasses.field(default_factory=list, init=False)
    stopped_after_epoch: int = dataclasses.field(default=-1, init=False)

    def __post_init__(self) -> None:
        if self.max_inner < 1:
            raise ConfigError(f"aggressive: max_inner must be >= 1, got {self.max_inner}")
        if self.check_every < 1:
            raise ConfigError(f"aggressive: check_every must be >= 1, got {self.check_every}")
        if self.min_epochs < 1:
            raise ConfigError(f"aggressive: min_epochs must be >= 1, got {self.min_epochs}")
        if self.stop_mi not in STOP_MI:
            raise ConfigError(
                f"aggressive: stop_mi must be one of {', '.join(STOP_MI)}, got '{self.stop_mi}'"
            )

    def train_step(self, trainer: TrainerView, batch: Batch) -> bool:
        """While aggressive: the inner encoder loop, then a decoder-only step; else a plain step."""
        if not self.active:
            return False
        self.inner_steps.append(self._train_encoder(trainer, batch))
        trainer.update(batch, encoder=False, decoder=True)
        return True

    def _train_encoder(self, trainer: TrainerView, batch: Batch) -> int:
        """Encoder-only steps; returns how many were taken.

        The stop rule compares the per-word training loss (sum over sentences
        of rec + weight x KL term, over words) of consecutive windows of
        `check_every` steps, starting from the batch itself and continuing
        on random training batches.
        """
        previous, window_loss, window_words = float("inf"), 0.0, 0
        current = batch
        for step in range(1, self.max_inner + 1):
            window_loss += float(trainer.update(current, encoder=True, decoder=False).sum())
            window_words += current.n_words
            current = trainer.random_train_batch()
            if step % self.check_every == 0:
                loss = window_loss / window_words
                if loss > previous:
                    return step
                previous, window_loss, window_words = loss, 0.0, 0
        return self.max_inner

    def on_epoch_end(self, trainer: TrainerView, val_metrics: dict[str, float]) -> None:
        """Turn aggressive mode off for good once validation MI goes down."""
        if not self.active:
            return
        mi = val_metrics[STOP_MI[self.stop_mi]]
        if trainer.epoch + 1 >= self.min_epochs and mi < self.previous_mi:
            self.active = False
            self.stopped_after_epoch = trainer.epoch
        self.previous_mi = mi

    def state_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "previous_mi": self.previous_mi,
            "inner_steps": list(self.inner_steps),
            "stopped_after_epoch": self.stopped_after_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.active = state.get("active", True)
        self.previous_mi = state.get("previous_mi", 0.0)
        self.inner_steps = list(state.get("inner_steps", []))
        self.stopped_after_epoch = state.get("stopped_after_epoch", -1)
