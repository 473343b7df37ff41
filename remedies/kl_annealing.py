"""KL annealing: the KL weight warms up from a start value to 1 (Bowman et al. 2016).

The schedules are pure functions of the step so that tests can check them
against the formulas and other remedies (cyclical, pretrain-fb) can reuse
them instead of copying them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.errors import ConfigError
from remedies.base import Horizon, Remedy
from remedies.registry import register

SHAPES = ("linear", "logistic")


def linear_warmup(step: float, warmup_steps: float, start: float = 0.0) -> float:
    """Weight rising in a straight line from `start` at step 0 to 1 at `warmup_steps`.

    .. math:: w(t) = s + (1 - s) \\min(1, t / W)

    He et al. 2019 and Kim et al. 2018 anneal this way per iteration, from
    s = 0.1 over W = 10 epochs. A warm-up of 0 steps means no annealing (w = 1).

    >>> linear_warmup(50, 100, start=0.1)
    0.55
    """
    if warmup_steps <= 0:
        return 1.0
    return start + (1.0 - start) * min(1.0, step / warmup_steps)


def logistic_warmup(
    step: float, warmup_steps: float, start: float = 0.0, steepness: float = 10.0
) -> float:
    """Sigmoid weight centred at half the warm-up, rescaled to run from `start` to exactly 1.

    .. math::
        \\sigma_k(t) = 1 / (1 + e^{-k (t / W - 1/2)}), \\quad
        w(t) = s + (1 - s) \\frac{\\sigma_k(\\min(t, W)) - \\sigma_k(0)}{\\sigma_k(W) - \\sigma_k(0)}

    Bowman et al. 2016 (Fig. 2) use a logistic KL weight; their code's
    steepness is a free constant. Here `steepness` k is the slope in units of
    the warm-up: with k = 10 the raw sigmoid spans sigma(-5)..sigma(5) =
    0.007..0.993 over the warm-up. Rescaling pins the ends, so the weight
    starts at `start` and is 1 from step W on, with no jump.

    >>> round(logistic_warmup(50, 100), 12)
    0.5
    """
    if warmup_steps <= 0:
        return 1.0

    def sigmoid(t: float) -> float:
        return 1.0 / (1.0 + math.exp(-steepness * (t / warmup_steps - 0.5)))

    low, high = sigmoid(0.0), sigmoid(warmup_steps)
    fraction = (sigmoid(min(step, warmup_steps)) - low) / (high - low)
    return start + (1.0 - start) * fraction


def warmup_length(epochs: float, steps: int, steps_per_epoch: int) -> float:
    """Warm-up length in steps: `steps` when given (> 0), else `epochs` x steps per epoch."""
    return float(steps) if steps > 0 else epochs * steps_per_epoch


def check_unit_interval(remedy: str, name: str, value: float) -> None:
    """A weight-like parameter must lie in [0, 1]; one clear line otherwise."""
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{remedy}: {name} must be in [0, 1], got {value}")


@register("kl-annealing")
@dataclass
class KLAnnealing(Remedy):
    """KL weight warm-up from `start` to 1, linear or logistic (Bowman et al. 2016; He et al. 2019).

    Bowman et al. (arXiv:1511.06349) raise the KL weight from 0 to 1 along
    a sigmoid so that the model first learns to use z, then pays its price.
    The default is He et al.'s (arXiv:1901.05534) linear per-step warm-up
    from 0.1 to 1 over 10 epochs, the setting of their Table 2 "+ anneal" rows.
    `steps` > 0 sets the warm-up in steps and overrides `epochs`.
    """

    paper = "Bowman et al. 2016, arXiv:1511.06349; He et al. 2019, arXiv:1901.05534"

    shape: str = "linear"
    start: float = 0.1
    epochs: float = 10.0
    steps: int = 0
    steepness: float = 10.0

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ConfigError(
                f"kl-annealing: shape must be one of {', '.join(SHAPES)}, got '{self.shape}'"
            )
        check_unit_interval("kl-annealing", "start", self.start)
        if self.epochs < 0 or self.steps < 0:
            raise ConfigError(
                f"kl-annealing: epochs and steps must be >= 0, got epochs={self.epochs}, "
                f"steps={self.steps}"
            )
        if self.steepness <= 0:
            raise ConfigError(f"kl-annealing: steepness must be > 0, got {self.steepness}")

    def kl_weight(self, step: int, horizon: Horizon) -> float:
        length = warmup_length(self.epochs, self.steps, horizon.steps_per_epoch)
        if self.shape == "logistic":
            return logistic_warmup(step, length, self.start, self.steepness)
        return linear_warmup(step, length, self.start)
