"""Word dropout (Bowman et al. 2016): weaken the decoder by hiding some of its input words."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bench.data.vocab import BOS, PAD
from remedies.base import Remedy, parameter
from remedies.kl_annealing import check_unit_interval
from remedies.registry import register


def drop_words(inputs: Tensor, keep: float, unk: int, generator: torch.Generator | None) -> Tensor:
    """Replace each word of `inputs` [B, T] by `unk` with probability 1 - keep.

    `<s>` and padding are never replaced (as in the usual implementations):
    the decoder still knows where a sentence starts and ends, and the
    padding stays masked. A new tensor is returned; `inputs` is untouched.
    keep = 1 returns the words, keep = 0 hides them all (the inputless decoder).
    """
    draws = torch.rand(inputs.shape, generator=generator).to(inputs.device)
    droppable = (inputs != BOS) & (inputs != PAD)
    return torch.where(droppable & (draws >= keep), torch.full_like(inputs, unk), inputs)


@register("word-dropout")
@dataclass
class WordDropout(Remedy):
    """Decoder inputs (never targets) become <unk> with prob. 1 - keep, in training (Bowman et al. 2016).

    Bowman et al. (arXiv:1511.06349, Sec. 3.2) found that with every
    previous word in view the decoder does not need z; hiding a fraction of
    them forces it to lean on the latent code. Only the training loss sees
    the dropped words: evaluation (NLL, ELBO, MI) scores the full decoder.
    keep = 0 is their inputless decoder. Default 0.5, the low end of the
    keep rates 0.5-0.75 they report as typical.
    """

    paper = "Bowman et al. 2016, arXiv:1511.06349"

    keep: float = parameter(0.5, neutral=1.0)

    def __post_init__(self) -> None:
        check_unit_interval("word-dropout", "keep", self.keep)

    def decoder_inputs(self, inputs: Tensor, unk: int, generator: torch.Generator) -> Tensor:
        if self.keep >= 1.0:
            return inputs
        return drop_words(inputs, self.keep, unk, generator)
