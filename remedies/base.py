"""The contract between the harness and its remedies: the hooks, how they combine, the trainer they see.

A remedy is a dataclass: its init fields are its parameters (they go into
config.json and the run id), everything else is run-time state that the
remedy declares through `state_dict` so a resumed run restores it. A
subclass overrides only the hooks it needs. Each hook says on itself, with
`@hook(...)`, how a composition `a+b` answers it; `HOOKS`, the composer's
checks and `Composite` follow from that. A hook that is handed the trainer
sees it as a `TrainerView`, and uses nothing else of it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor

from bench.syntax import format_part

if TYPE_CHECKING:
    from bench.config import RunConfig
    from bench.data.batching import Batch


class Combine(enum.Enum):
    """How a composition of remedies (`a+b`) answers a hook."""

    OWNER = "the one part that overrides it answers; two parts that both override it cannot be combined"
    EACH = "called on every part in turn"
    THREAD = "called on every part in turn, each given the previous part's result"


Hook = TypeVar("Hook", bound=Callable[..., Any])


def hook(combine: Combine) -> Callable[[Hook], Hook]:
    """Mark a `Remedy` method as a hook and declare how a composition answers it."""

    def mark(method: Hook) -> Hook:
        method.combine = combine  # type: ignore[attr-defined]
        return method

    return mark


@dataclasses.dataclass(frozen=True)
class Horizon:
    """How long training is planned to be: what a schedule is laid out over."""

    steps_per_epoch: int
    epochs: int  # train.epochs: the planned length (lr halvings may end a run sooner)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs


@runtime_checkable
class TrainerView(Protocol):
    """The trainer as a remedy's hooks see it: these members, and no others (docs/plugins.md)."""

    @property
    def step(self) -> int:
        """Training steps taken so far: in `train_step`, the index of the step under way."""

    @property
    def epoch(self) -> int:
        """The epoch under way; in `on_epoch_end`, the one just validated."""

    @property
    def horizon(self) -> Horizon:
        """The planned length of training, as the schedule hooks get it."""

    @property
    def generator(self) -> torch.Generator:
        """The run's seeded generator: draw all randomness from it, so a run and its resume repeat."""

    def update(
        self, batch: Batch, *, encoder: bool = True, decoder: bool = True, kl_weight: float | None = None
    ) -> Tensor:
        """One gradient step on `batch` for the chosen halves; the per-sentence training loss [B] it took.

        The loss is rec + KL weight x `kl_term` + `extra_loss` (+ the model's
        bag-of-words loss, if it has the head), with the remedy's decoder
        inputs, detached; `kl_weight` None means this step's weight.
        """

    def random_train_batch(self) -> Batch:
        """A training batch drawn with `generator`, on the training device."""

    def shuffled_train_batches(self) -> Iterator[Batch]:
        """One pass over the training batches in an order drawn with `generator`, on the training device."""

    def reset_decoder(self) -> None:
        """Re-initialise the decoder, and both optimisers with it."""


def parameter(default: Any, *, neutral: Any = None) -> Any:
    """A remedy parameter whose value `neutral` makes the remedy the plain VAE (word dropout's keep = 1).

    The report places the `none` runs there when it draws a sweep of the parameter.
    """
    return dataclasses.field(default=default, metadata={"neutral": neutral})


@dataclasses.dataclass
class Remedy:
    """Base class; hook docstrings say when the trainer calls them."""

    name: ClassVar[str] = "remedy"
    paper: ClassVar[str] = ""  # citation shown by `collapse-bench list remedies`

    @hook(Combine.THREAD)
    def configure(self, cfg: RunConfig) -> RunConfig:
        """Once, when the run is resolved: change the config (decoder, BN on mu, lr); then it is fixed."""
        return cfg

    @hook(Combine.OWNER)
    def kl_weight(self, step: int, horizon: Horizon) -> float:
        """Before each training step: the weight of the KL term (1.0: the true ELBO)."""
        return 1.0

    @hook(Combine.OWNER)
    def lr_factor(self, step: int, horizon: Horizon) -> float:
        """Before each training step: this step's learning rate as a factor of the protocol's."""
        return 1.0

    @hook(Combine.OWNER)
    def kl_term(self, kl_per_dim: Tensor) -> Tensor:
        """Each training step: turn per-unit KL [B, nz] into the per-sentence penalty [B]."""
        return kl_per_dim.sum(dim=-1)

    @hook(Combine.OWNER)
    def extra_loss(self, kl_per_dim: Tensor, step: int, horizon: Horizon) -> Tensor:
        """Each training loss: a per-sentence term [B] added outside the KL weight, any sign (a Lagrange
        term, a rate target); a function of its arguments and the remedy's state. Default 0."""
        return kl_per_dim.new_zeros(kl_per_dim.shape[0])

    @hook(Combine.OWNER)
    def decoder_inputs(self, inputs: Tensor, unk: int, generator: torch.Generator) -> Tensor:
        """Each training step: the decoder's input tokens [B, T]; never the targets."""
        return inputs

    @hook(Combine.OWNER)
    def before_training(self, trainer: TrainerView) -> None:
        """Once per run, after the model and optimisers exist and before epoch 0 (pretraining). Not called
        again when the run resumes from an epoch-end checkpoint: what it did is in the checkpoint (weights,
        optimiser state, and this remedy's `state_dict`). A run stopped before its first checkpoint starts
        over and calls it again."""

    @hook(Combine.OWNER)
    def train_step(self, trainer: TrainerView, batch: Batch) -> bool:
        """Each training step, after the KL weight and lr are set: True if this remedy took the step."""
        return False

    @hook(Combine.EACH)
    def after_update(self, kl_per_dim: Tensor, encoder: bool, decoder: bool) -> None:
        """After each gradient step (`update`, one-half steps included), with the KL [B, nz] it was taken
        on, detached, and which halves stepped: state that moves with the model (a Lagrange multiplier)."""

    @hook(Combine.EACH)
    def on_epoch_end(self, trainer: TrainerView, val_metrics: dict[str, float]) -> None:
        """After each epoch's validation, with its metrics (loss, rec, kl, mi, mi_batch, au)."""

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
        return format_part(self.name, self.params())

    def parts(self) -> list[Remedy]:
        """The single remedies this one is made of: itself."""
        return [self]

    def record(self) -> dict[str, Any]:
        """What config.json keeps of this remedy: name, typed parameters, and their neutral values."""
        neutral = {f.name: f.metadata["neutral"] for f in dataclasses.fields(self)
                   if f.init and f.metadata.get("neutral") is not None}
        return {"name": self.name, "params": self.params(), "neutral": neutral}

    @classmethod
    def overridden_hooks(cls) -> set[str]:
        return {name for name in HOOKS if getattr(cls, name) is not getattr(Remedy, name)}


HOOKS: dict[str, Combine] = {
    name: member.combine for name, member in vars(Remedy).items() if hasattr(member, "combine")
}
