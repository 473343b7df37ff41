"""The plugin kit (`bench.kit`) fails a broken remedy, naming the rule it breaks, and passes a sound one.

The broken remedies here are the mistakes a plugin author makes that only
show mid-run: state a resume loses, a hook that crashes when the first
epoch ends.
"""

import dataclasses
import math
from typing import Any

import pytest
import torch

from bench.data.batching import Batch
from bench.kit import CHECKS, ConformanceError, check_remedy
from bench.kit.conformance import check_epoch_end_takes_the_validation_metrics
from remedies import Remedy, registry
from remedies.base import Horizon, TrainerView


@dataclasses.dataclass
class Counter(Remedy):
    """Counts its training steps, and checkpoints none of it (Nobody et al. 2030)."""

    paper = "Nobody et al. 2030"

    steps: int = dataclasses.field(default=0, init=False)

    def train_step(self, trainer: TrainerView, batch: Batch) -> bool:
        self.steps += 1
        return False


class CounterWithoutLoad(Counter):
    """Counts its training steps, and starts again from 0 on resume (Nobody et al. 2030)."""

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}


class CheckpointedCounter(CounterWithoutLoad):
    """Counts its training steps, across a resume too (Nobody et al. 2030)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]


@dataclasses.dataclass
class LossWatcher(Remedy):
    """Keeps the last validation loss (Nobody et al. 2030)."""

    paper = "Nobody et al. 2030"

    key: str = "loss"
    last: float = dataclasses.field(default=math.inf, init=False)

    def on_epoch_end(self, trainer: TrainerView, val_metrics: dict[str, float]) -> None:
        self.last = val_metrics[self.key]

    def state_dict(self) -> dict[str, Any]:
        return {"last": self.last}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last = state["last"]


@pytest.mark.parametrize("remedy", [CheckpointedCounter, LossWatcher], ids=lambda cls: cls.__name__)
def test_a_sound_remedy_with_state_passes(remedy):
    check_remedy(remedy, name="sound")


@pytest.mark.parametrize("remedy", [CounterWithoutLoad, Counter], ids=lambda cls: cls.__name__)
def test_state_that_a_resume_would_lose_fails(remedy):
    with pytest.raises(ConformanceError) as err:
        check_remedy(remedy, name="forgetful")
    assert f"fails 1 of {len(CHECKS)}" in str(err.value) and "state_round_trips: " in str(err.value)


def test_an_epoch_end_that_reads_a_key_validation_does_not_give_fails():
    with registry.registered("loss-watcher", LossWatcher), pytest.raises(KeyError, match="val_loss"):
        check_epoch_end_takes_the_validation_metrics("loss-watcher(key=val_loss)")
    with registry.registered("loss-watcher", LossWatcher), pytest.raises(ConformanceError) as err:
        check_remedy("loss-watcher(key=val_loss)")
    assert "epoch_end_takes_the_validation_metrics: KeyError: 'val_loss'" in str(err.value)


@pytest.mark.parametrize("key", ["loss", "rec", "kl", "mi", "mi_batch", "au"])
def test_an_epoch_end_may_read_every_metric_the_docs_list(key):
    with registry.registered("loss-watcher", LossWatcher):
        check_epoch_end_takes_the_validation_metrics(f"loss-watcher(key={key})")


def test_check_remedy_passes_a_spec_with_parameters():
    check_remedy("kl-annealing(epochs=3)+word-dropout(keep=0.75)")


def test_check_remedy_names_every_broken_rule():
    @dataclasses.dataclass
    class Overweight(Remedy):
        """Doubles the KL (Nobody et al. 2030)."""

        paper = "Nobody et al. 2030"

        def kl_weight(self, step: int, horizon: Horizon) -> float:
            return 2.0

        def kl_term(self, kl_per_dim: torch.Tensor) -> torch.Tensor:
            return kl_per_dim  # [B, nz], not [B]

    with pytest.raises(ConformanceError) as err:
        check_remedy(Overweight, name="overweight")
    message = str(err.value)
    assert f"fails 4 of {len(CHECKS)}" in message and "schedules_stay_in_range: kl_weight(0" in message
    assert "kl_term_is_per_sentence: kl_term of a [6, 3] KL has shape (6, 3)" in message
    assert "one_training_step: RuntimeError" in message  # a hook that crashes fails its check too
    assert "state_round_trips: RuntimeError" in message  # the step that drives the remedy crashes there
    assert "overweight" not in registry.names()  # registered for the checks only


def test_check_remedy_needs_the_name_of_an_unregistered_class():
    class Nameless(Remedy):
        """Does nothing (Nobody et al. 2030)."""

    with pytest.raises(ValueError, match="name='my-remedy'"):
        check_remedy(Nameless)
