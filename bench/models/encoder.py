"""LSTM inference network q(z|x) = N(mu, diag sigma^2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.config import ModelConfig
from bench.data.vocab import PAD


class LSTMEncoder(nn.Module):
    """Reads `<s> x </s>`; the last hidden state gives (mu, logvar) by one bias-free Linear.

    With `bn_gamma > 0` the mean goes through BatchNorm with its scale fixed at
    gamma and a learnable shift (BN-VAE, Zhu et al. 2020): the expected KL is
    then bounded below by nz * gamma^2 / 2, so it cannot collapse.
    """

    def __init__(self, vocab_size: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.emb, padding_idx=PAD)
        self.lstm = nn.LSTM(cfg.emb, cfg.enc_hidden, batch_first=True)
        self.to_gaussian = nn.Linear(cfg.enc_hidden, 2 * cfg.nz, bias=False)
        self.bn: nn.BatchNorm1d | None = None
        if cfg.bn_gamma > 0:
            self.bn = nn.BatchNorm1d(cfg.nz)
            self.bn.weight.requires_grad_(False)
            nn.init.constant_(self.bn.weight, cfg.bn_gamma)

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """tokens [B, L] (`<s> x </s>` + padding), lengths [B] = n + 1 -> mu, logvar [B, nz].

        The LSTM runs over the padding too, but it is causal, so the output at
        position `lengths` (the `</s>`) only saw the sentence itself.
        """
        outputs, _ = self.lstm(self.embed(tokens))
        last = outputs[torch.arange(tokens.shape[0], device=tokens.device), lengths]
        mu, logvar = self.to_gaussian(last).chunk(2, dim=-1)
        if self.bn is not None:
            mu = self.bn(mu)
        return mu, logvar
