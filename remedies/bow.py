"""Bag-of-words loss (Zhao et al. 2017): z must also predict, order-free, the words of its sentence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.errors import ConfigError
from remedies.base import Remedy
from remedies.registry import register

if TYPE_CHECKING:
    from bench.config import RunConfig


@register("bow")
@dataclass
class BagOfWordsLoss(Remedy):
    """An auxiliary loss: the sentence's bag of words under one softmax of an MLP on z (Zhao et al. 2017).

    Zhao et al. (ACL 2017, arXiv:1703.10960) add to the (annealed) ELBO the
    negative log-likelihood of the response's words, each drawn from one
    softmax over the vocabulary computed from z; a decoder that ignores z
    cannot lower it, so the encoder is pushed to encode. As their code
    (snakeztc/NeuralDialog-CVAE, models/cvae.py): a hidden layer of
    `hidden` = 400 tanh units (`bow_fc1`) and a vocabulary projection
    (`bow_project`), both with a bias, on the z sample the decoder reads;
    the loss sums over the target tokens (words and end-of-sentence, padding
    masked), is averaged over the batch, weighted 1 and never annealed. In the
    unconditional VAE their generator input [context; z] is z alone.

    The head is part of the decoder half (their "generationNetwork" scope):
    the decoder's optimiser steps it, so an encoder-only step of aggressive
    training leaves it alone while its gradient still reaches the encoder
    through z. The model implements the head (`model.bow_hidden`); this
    remedy turns it on. Metrics never read it: p(x|z) is the decoder's.
    """

    paper = "Zhao et al. 2017, ACL, arXiv:1703.10960"

    hidden: int = 400

    def __post_init__(self) -> None:
        if self.hidden < 1:
            raise ConfigError(f"bow: hidden must be >= 1, got {self.hidden}")

    def configure(self, cfg: RunConfig) -> RunConfig:
        """Give the model its bag-of-words head."""
        cfg.model.bow_hidden = self.hidden
        return cfg
