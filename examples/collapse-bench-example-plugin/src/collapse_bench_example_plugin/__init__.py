"""An example collapse-bench remedy, installed through the `collapse_bench.remedies` entry point."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from bench.errors import ConfigError
from remedies.base import Remedy

__all__ = ["KLThreshold"]


@dataclass
class KLThreshold(Remedy):
    """A sentence's KL counts only above `target` nats: below it the code is free (Li et al. 2019).

    Li et al. (arXiv:1909.00868) mask the KL term of every sentence whose KL
    is at most the target (their code's `--fb 1`), so the encoder is not
    pushed below it. The gradient equals that of max(target, KL).
    """

    paper = "Li et al. 2019, EMNLP, arXiv:1909.00868 (--fb 1)"

    target: float = 1.0

    def __post_init__(self) -> None:
        if self.target < 0:
            raise ConfigError(f"kl-threshold: target must be >= 0, got {self.target}")

    def kl_term(self, kl_per_dim: Tensor) -> Tensor:
        kl = kl_per_dim.sum(dim=-1)
        return kl * (kl > self.target)
