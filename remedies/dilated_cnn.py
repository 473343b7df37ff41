"""Dilated CNN decoder (Yang et al. 2017): a decoder with a bounded view of the past."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.errors import ConfigError
from remedies.base import Remedy
from remedies.registry import register

if TYPE_CHECKING:
    from bench.config import RunConfig

_BLOCK = (1, 2, 4, 8, 16)

# Yang et al.'s four decoders (arXiv:1702.08139, Table 1 dilations; no public code to check them against).
SIZES: dict[str, tuple[int, ...]] = {
    "small": (1, 2, 4),
    "medium": _BLOCK,
    "large": _BLOCK * 2,
    "very-large": _BLOCK * 3,
}


@register("dilated-cnn")
@dataclass
class DilatedCNN(Remedy):
    """LSTM encoder with a causal dilated-CNN decoder of a chosen size (Yang et al. 2017).

    Yang et al. (ICML 2017, arXiv:1702.08139) replace the LSTM decoder with
    a stack of residual blocks of causal dilated 1-D convolutions (kernel
    3), z concatenated to the word embedding at every position. Its
    receptive field bounds the context the decoder can use: a smaller one
    leaves more for z (more KL) at some cost in NLL. Sizes (dilations,
    receptive field): small [1,2,4] 15; medium [1,2,4,8,16] 63; large
    [1,2,4,8,16]x2 125; very-large [1,2,4,8,16]x3 187. Default medium, the
    middle of their range. Channels come from `model.cnn_channels`; the run
    records the receptive field in metrics.json.
    """

    paper = "Yang et al. 2017, ICML, arXiv:1702.08139"

    size: str = "medium"

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ConfigError(
                f"dilated-cnn: size must be one of {', '.join(SIZES)}, got '{self.size}'"
            )

    def configure(self, cfg: RunConfig) -> RunConfig:
        """Select the CNN decoder and this size's dilations."""
        cfg.model.decoder = "cnn"
        cfg.model.cnn_dilations = SIZES[self.size]
        return cfg
