"""Minimum desired rate (Pelsmaeker & Aziz 2020): KL >= r held by a Lagrange multiplier."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from bench.errors import ConfigError
from remedies.base import Horizon, Remedy
from remedies.registry import register

# torch.optim.RMSprop's defaults, which the authors' multiplier optimiser keeps.
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-8


def rmsprop_ascent(weight: float, square_avg: float, gradient: float, lr: float) -> tuple[float, float]:
    """One torch.optim.RMSprop step (defaults) on `weight` with the gradient's sign flipped: an ascent.

    .. math:: s \\leftarrow \\alpha s + (1 - \\alpha) g^2, \\quad
              w \\leftarrow w + \\eta\\, g / (\\sqrt{s} + \\epsilon)

    The authors negate the multiplier's gradient before `mdr_optimizer.step()`,
    so the same backward pass that minimises over the model maximises over
    the multiplier. Returns the new (weight, square average).

    >>> rmsprop_ascent(0.5, 0.0, 2.0, lr=0.001)[0] > 0.5
    True
    """
    square_avg = RMSPROP_ALPHA * square_avg + (1 - RMSPROP_ALPHA) * gradient**2
    return weight + lr * gradient / (math.sqrt(square_avg) + RMSPROP_EPS), square_avg


@register("min-rate")
@dataclass
class MinRate(Remedy):
    """A minimum desired rate: KL >= r, its Lagrange multiplier learnt by ascent (Pelsmaeker & Aziz 2020).

    Pelsmaeker and Aziz (ACL 2020, arXiv:1904.08194) keep the ELBO as the
    objective and add |w| (r - KL) per sentence, w a Lagrange multiplier
    that the same backward pass moves by gradient ascent: while the batch's
    mean KL stays below `rate` r, |w| grows and pushes the encoder to encode;
    once KL exceeds r, w shrinks towards 0, so |w| is never negative. As
    their fork of He et al.'s code (tom-pelsmaeker/vae-lagging-encoder,
    text.py, `--mdr`), the one this harness's protocol follows: w starts
    at 0.5 (`start`), its optimiser is RMSprop at lr 0.001 with torch's
    defaults, separate from the model's (so not in the gradient clip), and
    it steps once per training step, with the decoder's optimiser: the inner
    encoder-only steps of aggressive training leave it alone. The term sits
    outside the KL weight, as theirs beside `kl_weight * KL`. Default r = 5
    nats, their README's example.
    """

    paper = "Pelsmaeker & Aziz 2020, ACL, arXiv:1904.08194"

    rate: float = 5.0
    start: float = 0.5
    lr: float = 0.001
    weight: float = dataclasses.field(default=0.0, init=False)  # w; the multiplier is |w|
    square_avg: float = dataclasses.field(default=0.0, init=False)  # RMSprop's running mean of g^2

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ConfigError(f"min-rate: rate must be >= 0, got {self.rate}")
        if self.lr <= 0:
            raise ConfigError(f"min-rate: lr must be > 0, got {self.lr}")
        self.weight = self.start

    @property
    def multiplier(self) -> float:
        """The Lagrange multiplier |w| on (r - KL)."""
        return abs(self.weight)

    def extra_loss(self, kl_per_dim: Tensor, step: int, horizon: Horizon) -> Tensor:
        """|w| (r - KL) per sentence: negative once a sentence's KL exceeds r."""
        return self.multiplier * (self.rate - kl_per_dim.sum(dim=-1))

    def after_update(self, kl_per_dim: Tensor, encoder: bool, decoder: bool) -> None:
        """With the decoder's step: ascend on w along d/dw of the batch mean of |w| (r - KL)."""
        if not decoder:
            return
        slack = self.rate - float(kl_per_dim.sum(dim=-1).mean())
        sign = (self.weight > 0) - (self.weight < 0)  # d|w|/dw, 0 at 0 as torch's abs
        self.weight, self.square_avg = rmsprop_ascent(self.weight, self.square_avg, sign * slack, self.lr)

    def state_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "square_avg": self.square_avg}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weight = state.get("weight", self.start)
        self.square_avg = state.get("square_avg", 0.0)
