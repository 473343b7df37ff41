"""Cyclical KL annealing (Fu et al. 2019): the warm-up repeated M times over training."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.errors import ConfigError
from remedies.base import Horizon, Remedy
from remedies.kl_annealing import check_unit_interval, linear_warmup
from remedies.registry import register


def cyclical_weight(step: int, period: float, ratio: float, start: float = 0.0) -> float:
    """Fu et al.'s `frange_cycle_linear`: a linear ramp over the first `ratio` of each period.

    .. math:: \\tau = (t \\bmod P) / P, \\quad
              \\beta(t) = s + (1 - s) \\min(1, \\tau / R)

    P = horizon / M steps. Their code fills beta from `start` upwards in
    equal increments until it reaches 1, then holds 1 for the rest of the
    cycle: the same curve.

    >>> cyclical_weight(130, period=100, ratio=0.5)
    0.6
    """
    return linear_warmup(step % period, ratio * period, start)


def cosine_restart(step: int, period: float) -> float:
    """Learning-rate factor 0.5 (1 + cos(pi tau)), tau the position in the current cycle.

    Fu et al.'s PTB script (`train_text_cyc_ptb.py`) restarts this cosine at
    every cycle; it sets it once per epoch, we apply the same curve per step.

    >>> cosine_restart(150, period=100)
    0.5
    """
    return 0.5 * (1.0 + math.cos(math.pi * (step % period) / period))


@register("cyclical")
@dataclass
class Cyclical(Remedy):
    """Cyclical KL annealing: M cycles, each a linear ramp to 1 over ratio R, then 1 (Fu et al. 2019).

    Fu et al. (NAACL 2019, arXiv:1903.10145) split the training horizon
    (`train.epochs` x steps per epoch, as the trainer passes it) into `cycles`
    periods; in each, beta rises linearly from `start` to 1 over the first
    `ratio` of the period and stays at 1 for the rest. Restarting lets later
    cycles reuse the latent codes learnt in earlier ones. Defaults follow
    their language-model script (haofuml/cyclical_annealing,
    train_text_cyc_ptb.py): M = 4, R = 0.5, beta restarting at 0.1, and a
    cosine learning-rate schedule restarted with every cycle
    (`lr_restart`). The paper's figure starts at 0: `start=0`;
    `lr_restart=false` changes only the KL weight. Their script trains with
    Adam at lr 1e-3 for a fixed 40 epochs (docs/fidelity.md).
    """

    paper = "Fu et al. 2019, NAACL, arXiv:1903.10145"

    cycles: int = 4
    ratio: float = 0.5
    start: float = 0.1
    lr_restart: bool = True

    def __post_init__(self) -> None:
        if self.cycles < 1:
            raise ConfigError(f"cyclical: cycles must be >= 1, got {self.cycles}")
        if not 0.0 < self.ratio <= 1.0:
            raise ConfigError(f"cyclical: ratio must be in (0, 1], got {self.ratio}")
        check_unit_interval("cyclical", "start", self.start)

    def _period(self, horizon: Horizon) -> float:
        """Steps per cycle: the cycles divide the planned training."""
        return horizon.total_steps / self.cycles

    def kl_weight(self, step: int, horizon: Horizon) -> float:
        return cyclical_weight(step, self._period(horizon), self.ratio, self.start)

    def lr_factor(self, step: int, horizon: Horizon) -> float:
        return cosine_restart(step, self._period(horizon)) if self.lr_restart else 1.0
