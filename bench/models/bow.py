"""A bag-of-words head on z (Zhao et al. 2017): every word of the sentence drawn from one softmax of z.

The decoder alone can explain a sentence without z; the bag cannot, since its
one distribution sees nothing but z. Its negative log-likelihood, added to the
training loss, rewards an encoder whose z predicts which words the sentence
holds (snakeztc/NeuralDialog-CVAE, models/cvae.py: `bow_fc1`, `bow_project`,
`bow_loss`). It is an auxiliary loss only: p(x|z) is the decoder's, and every
metric reads the decoder alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.data.vocab import PAD


class BagOfWords(nn.Module):
    """z -> tanh hidden layer -> logits over the vocabulary; both layers with a bias, as Zhao et al.'s."""

    def __init__(self, nz: int, hidden: int, vocab_size: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(nz, hidden)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, z: Tensor) -> Tensor:
        """z [B, nz] -> logits [B, V]."""
        return self.out(torch.tanh(self.hidden(z)))


def bag_nll(logits: Tensor, targets: Tensor) -> Tensor:
    """-sum_t log softmax(logits)[x_t] over each sentence's targets (words and `</s>`, padding skipped).

    .. math:: \\text{out}_b = -\\sum_{t} \\log \\text{softmax}(f(z_b))_{x_{bt}}

    `logits` [B, V], `targets` [B, T] -> [B]: the targets' bag under the one
    softmax, a word counted as often as it occurs.

    >>> round(bag_nll(torch.zeros(1, 4), torch.tensor([[1, 2, 0]])).item(), 4)  # 2 words, each 1/4
    2.7726
    """
    log_probs = F.log_softmax(logits.float(), dim=-1)
    picked = log_probs.gather(1, targets)
    return -picked.masked_fill(targets == PAD, 0.0).sum(dim=-1)
