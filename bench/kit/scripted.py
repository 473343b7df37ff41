"""A stand-in trainer for tests of one remedy's logic: the `TrainerView` contract and nothing more."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from bench.data.batching import Batch, collate
from remedies.base import Horizon


class ScriptedTrainer:
    """Records a remedy's update calls; the per-word loss of each encoder-only step follows a script.

    Hand it to a hook that takes the trainer (`train_step`, `before_training`,
    `on_epoch_end`) and read back what the hook asked of it: `calls` holds
    (encoder, decoder) per `update`, `resets` counts `reset_decoder`.
    """

    def __init__(self, losses: list[float], step: int = 0, epoch: int = 0) -> None:
        self.losses = iter(losses)
        self.calls: list[tuple[bool, bool]] = []
        self.batch = collate([[5, 6, 7]], [0])  # 4 words
        self.step, self.epoch = step, epoch
        self.horizon = Horizon(steps_per_epoch=100, epochs=8)
        self.generator = torch.Generator().manual_seed(0)
        self.resets = 0

    def update(
        self, batch: Batch, *, encoder: bool = True, decoder: bool = True, kl_weight: float | None = None
    ) -> torch.Tensor:
        self.calls.append((encoder, decoder))
        per_word = next(self.losses) if encoder and not decoder else 0.0
        return torch.tensor([per_word * batch.n_words])

    def random_train_batch(self) -> Batch:
        return self.batch

    def shuffled_train_batches(self) -> Iterator[Batch]:
        yield self.batch

    def reset_decoder(self) -> None:
        self.resets += 1
