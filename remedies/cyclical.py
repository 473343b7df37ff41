"""Cyclical KL annealing (Fu et al. 2019): the warm-up repeated M times over training."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.errors import ConfigError
from remedies.base import Horizon, Remedy
from remedies.kl_annealing import check_unit_interval, linear_warmup
from remedies.registry import register

RAMPS = ("scripts", "frange")  # their training scripts' ramp; their README's `frange_cycle_linear`
LR_EVERY = ("epoch", "step")  # how often the cosine learning rate is set


def script_weight(step: int, period: float, ratio: float, start: float = 0.0) -> float:
    """Fu et al.'s training scripts: beta restarts at `start` and gains 1 / (R P) *before* every step.

    .. math:: \\beta(t) = \\min(1, s + ((t \\bmod P) + 1) / (R P))

    Their language-model script (`language_model/train_text_cyc_ptb.py`,
    s = 0.1, R P = `--warmup` 5 epochs of a `--cycle` of 10) thus takes its
    first step of a cycle at 0.1 + 1/(5N) for N steps an epoch and reaches
    1 at step 4.5N - 1, 45% of the cycle; their dialog and Yelp scripts
    (`dialog/models/cvae_cyc.py`, `semi/semi_yelp_cyc_pre.py`) do the same
    from s = 0.

    >>> script_weight(139, period=100, ratio=0.5, start=0.1)
    0.9
    """
    return min(1.0, start + (step % period + 1) / (ratio * period))


def frange_weight(step: int, period: float, ratio: float, start: float = 0.0) -> float:
    """Their README's `frange_cycle_linear`: from `start` at a cycle's first step to 1 at R of it.

    .. math:: \\tau = (t \\bmod P) / P, \\quad
              \\beta(t) = s + (1 - s) \\min(1, \\tau / R)

    It fills each cycle from `start` upwards in equal increments until 1,
    then holds 1: this curve. Their plot notebook draws the paper's
    schedule figure with it, from s = 0.

    >>> frange_weight(130, period=100, ratio=0.5)
    0.6
    """
    return linear_warmup(step % period, ratio * period, start)


def cosine_restart(step: int, period: float) -> float:
    """Learning-rate factor 0.5 (1 + cos(pi tau)), tau the position of `step` in its cycle.

    >>> cosine_restart(150, period=100)
    0.5
    """
    return 0.5 * (1.0 + math.cos(math.pi * (step % period) / period))


@register("cyclical")
@dataclass
class Cyclical(Remedy):
    """Cyclical KL annealing: M cycles, each a ramp of beta to 1, then 1, and a cosine lr (Fu et al. 2019).

    Fu et al. (NAACL 2019, arXiv:1903.10145) split the training horizon
    (`train.epochs` x steps per epoch, as the trainer passes it) into `cycles`
    periods of P steps. The defaults are their language-model script
    (haofuml/cyclical_annealing, `language_model/train_text_cyc_ptb.py`):
    40 epochs in cycles of 10 (M = 4 at `train.epochs = 40`); beta reset to
    0.1 at each cycle's start and raised by 1 / (R P) before every step,
    R P being its 5-epoch warm-up (R = 0.5), so 1 is reached at 45% of the
    cycle (`ramp=scripts`); Adam's lr times 0.5 (1 + cos(pi tau)), tau the
    position of the epoch's start in its cycle, set once per epoch
    (`lr_every=epoch`). `ramp=frange` is their README's
    `frange_cycle_linear` (beta from `start` at the cycle's first step to 1
    at R of it; the paper's figure, with `start=0`); `lr_every=step` sets the
    cosine every step, as their dialog and Yelp scripts; `lr_restart=false`
    keeps the lr constant. The harness's earlier default is
    `cyclical(ramp=frange,lr_every=step)`.
    """

    paper = "Fu et al. 2019, NAACL, arXiv:1903.10145"

    cycles: int = 4
    ratio: float = 0.5
    start: float = 0.1
    ramp: str = "scripts"
    lr_restart: bool = True
    lr_every: str = "epoch"

    def __post_init__(self) -> None:
        if self.cycles < 1:
            raise ConfigError(f"cyclical: cycles must be >= 1, got {self.cycles}")
        if not 0.0 < self.ratio <= 1.0:
            raise ConfigError(f"cyclical: ratio must be in (0, 1], got {self.ratio}")
        check_unit_interval("cyclical", "start", self.start)
        for name, value, choices in (("ramp", self.ramp, RAMPS), ("lr_every", self.lr_every, LR_EVERY)):
            if value not in choices:
                raise ConfigError(f"cyclical: {name} must be one of {', '.join(choices)}, got '{value}'")

    def _period(self, horizon: Horizon) -> float:
        """Steps per cycle: the cycles divide the planned training."""
        return horizon.total_steps / self.cycles

    def kl_weight(self, step: int, horizon: Horizon) -> float:
        weight = script_weight if self.ramp == "scripts" else frange_weight
        return weight(step, self._period(horizon), self.ratio, self.start)

    def lr_factor(self, step: int, horizon: Horizon) -> float:
        """Their script sets the lr at each epoch's start: an epoch takes the cosine of its first step."""
        if not self.lr_restart:
            return 1.0
        if self.lr_every == "epoch":
            step -= step % horizon.steps_per_epoch
        return cosine_restart(step, self._period(horizon))
