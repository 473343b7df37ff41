"""He et al.'s model selection and learning-rate halving: what one validation decides.

The reference code (jxhe/vae-lagging-encoder, text.py) keeps the checkpoint
with the lowest validation negative ELBO (its "loss"); from `train.decay_after_epoch` on,
`train.decay_patience` epochs without improvement reload that checkpoint and
halve the lr, and `train.max_decays` halvings end training. The trainer acts
on the `Verdict`; the state here is what a checkpoint saves of it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

from bench.config import TrainConfig


class Verdict(NamedTuple):
    """What one epoch's validation decided."""

    best: bool  # a new best checkpoint: keep these weights
    halve: bool  # reload the best weights and halve the lr


@dataclasses.dataclass
class ProtocolState:
    """What the lr schedule and model selection remember between epochs.

    Two bars, as in He et al.'s code: `best_loss` picks the checkpoint and
    only ever goes down; `decay_bar` is what "not improved" compares with,
    and a halving resets it to that epoch's (worse) value. Both are validation
    negative ELBOs; `best_loss` keeps its name because checkpoints store these
    fields by name (bench.evaluate.ElboSums lists the names files keep).
    """

    best_loss: float = math.inf
    decay_bar: float = math.inf
    best_epoch: int = -1
    not_improved: int = 0
    decays: int = 0
    lr: float = 0.0
    stopped: bool = False
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)

    def judge(self, epoch: int, val: dict[str, float], train: TrainConfig) -> Verdict:
        """Record `epoch`'s validation metrics (with the lr it ran at) and decide."""
        self.history.append({"epoch": epoch, **val, "lr": self.lr})
        neg_elbo = val["loss"]
        best = neg_elbo < self.best_loss
        if best:
            self.best_loss, self.best_epoch = neg_elbo, epoch
        if neg_elbo <= self.decay_bar:
            self.decay_bar, self.not_improved = neg_elbo, 0
            return Verdict(best, halve=False)
        self.not_improved += 1
        if self.not_improved < train.decay_patience or epoch < train.decay_after_epoch:
            return Verdict(best, halve=False)
        # As the reference: take this epoch's value as the new bar to beat (the checkpoint keeps its own).
        self.decays += 1
        self.not_improved = 0
        self.decay_bar = neg_elbo
        self.stopped = self.decays >= train.max_decays
        return Verdict(best, halve=True)
