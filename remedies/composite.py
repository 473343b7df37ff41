"""Several remedies acting as one (`a+b`).

Chained hooks run in every part; each other hook is answered by the one part
that overrides it (the registry has already refused two owners).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor

from remedies.base import HOOKS, Remedy

if TYPE_CHECKING:
    from bench.config import RunConfig
    from bench.data.batching import Batch
    from bench.train import Trainer


class Composite(Remedy):
    def __init__(self, parts: list[Remedy]) -> None:
        self.parts = parts
        self.name = "+".join(part.name for part in parts)
        self.owner = {
            hook: next((p for p in parts if hook in p.overridden_hooks()), Remedy())
            for hook in HOOKS
        }

    def spec(self) -> str:
        return "+".join(part.spec() for part in self.parts)

    def params(self) -> dict[str, Any]:
        return {part.name: part.params() for part in self.parts}

    def overridden_hooks(self) -> set[str]:  # type: ignore[override]
        return set().union(*(part.overridden_hooks() for part in self.parts))

    def configure(self, cfg: RunConfig) -> RunConfig:
        for part in self.parts:
            cfg = part.configure(cfg)
        return cfg

    def kl_weight(self, step: int, steps_per_epoch: int) -> float:
        return self.owner["kl_weight"].kl_weight(step, steps_per_epoch)

    def kl_term(self, kl_per_dim: Tensor) -> Tensor:
        return self.owner["kl_term"].kl_term(kl_per_dim)

    def decoder_inputs(self, inputs: Tensor, unk: int, generator: Any) -> Tensor:
        return self.owner["decoder_inputs"].decoder_inputs(inputs, unk, generator)

    def before_training(self, trainer: Trainer) -> None:
        self.owner["before_training"].before_training(trainer)

    def before_step(self, trainer: Trainer) -> None:
        self.owner["before_step"].before_step(trainer)

    def train_step(self, trainer: Trainer, batch: Batch) -> bool:
        return self.owner["train_step"].train_step(trainer, batch)

    def on_epoch_end(self, trainer: Trainer, val_metrics: dict[str, float]) -> None:
        for part in self.parts:
            part.on_epoch_end(trainer, val_metrics)

    def state_dict(self) -> dict[str, Any]:
        return {part.name: part.state_dict() for part in self.parts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for part in self.parts:
            part.load_state_dict(state.get(part.name, {}))
