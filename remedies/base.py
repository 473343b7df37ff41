"""The remedy interface: hooks the trainer calls, each neutral by default.

A remedy is a dataclass: its init fields are its parameters (they go into
config.json and the run id), everything else is run-time state that the
remedy declares through `state_dict` so a resumed run restores it.
A subclass overrides only the hooks it needs; `overridden_hooks` tells the
composer which ones, so two remedies that take over the same hook are caught
before any training.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor

if TYPE_CHECKING:
    from bench.config import RunConfig
    from bench.data.batching import Batch
    from bench.train import Trainer

HOOKS = (
    "configure",
    "kl_weight",
    "kl_term",
    "decoder_inputs",
    "before_training",
    "before_step",
    "train_step",
    "on_epoch_end",
)


@dataclasses.dataclass
class Remedy:
    """Base class; hook docstrings say when the trainer calls them."""

    name: ClassVar[str] = "remedy"
    paper: ClassVar[str] = ""  # citation shown by `collapse-bench list remedies`

    def configure(self, cfg: RunConfig) -> RunConfig:
        """Before the model is built: change the config (decoder type, BN on mu)."""
        return cfg

    def kl_weight(self, step: int, steps_per_epoch: int) -> float:
        """Before each training step: the weight of the KL term (1.0: the true ELBO)."""
        return 1.0

    def kl_term(self, kl_per_dim: Tensor) -> Tensor:
        """Each training step: turn per-unit KL [B, nz] into the per-sentence penalty [B]."""
        return kl_per_dim.sum(dim=-1)

    def decoder_inputs(self, inputs: Tensor, unk: int, generator: Any) -> Tensor:
        """Each training step: the decoder's input tokens [B, T]; never the targets."""
        return inputs

    def before_training(self, trainer: Trainer) -> None:
        """Once, after the model and optimisers exist and before epoch 0 (pretraining)."""

    def before_step(self, trainer: Trainer) -> None:
        """Before each training step, after the KL weight is set (per-step lr schedules)."""

    def train_step(self, trainer: Trainer, batch: Batch) -> bool:
        """Each training step: return True if this remedy took the step itself."""
        return False

    def on_epoch_end(self, trainer: Trainer, val_metrics: dict[str, float]) -> None:
        """After each epoch's validation, with its metrics (loss, kl, mi, au)."""

    def state_dict(self) -> dict[str, Any]:
        """Run-time state to checkpoint (not parameters)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""

    # --- not hooks -------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def spec(self) -> str:
        """Canonical spec with every parameter, e.g. `word-dropout(keep=0.5)`."""
        params = self.params()
        if not params:
            return self.name
        inner = ",".join(f"{key}={format_value(value)}" for key, value in sorted(params.items()))
        return f"{self.name}({inner})"

    @classmethod
    def overridden_hooks(cls) -> set[str]:
        return {hook for hook in HOOKS if getattr(cls, hook) is not getattr(Remedy, hook)}


def format_value(value: Any) -> str:
    """A parameter value as the spec syntax writes it (`true`, `0.5`, `linear`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
