"""Autoregressive LSTM decoder p(x|z), the reference architecture."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.config import ModelConfig
from bench.data.vocab import PAD
from bench.models.projection import vocab_logits


class LSTMDecoder(nn.Module):
    """Input at step t is [dropout(embed(x_{t-1})); z]; c0 = W z, h0 = tanh(c0).

    Feeding z at every step and into the initial state is He et al.'s
    (and Bowman's) decoder: the strongest setting for collapse.

    With `cfg.dec_skip` the output layer reads [dropout(h_t); z] instead of
    dropout(h_t): Dieng et al.'s generative skip connection (Skip-VAE), so
    every word's distribution depends on z directly, not only through the
    recurrence (yoonkim/skip-vae, models_text_skip.py, `skip == 1`; z joins
    after the output dropout there, as here).
    """

    def __init__(self, vocab_size: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.skip = cfg.dec_skip
        self.embed = nn.Embedding(vocab_size, cfg.emb, padding_idx=PAD)
        self.dropout_in = nn.Dropout(cfg.dropout_in)
        self.dropout_out = nn.Dropout(cfg.dropout_out)
        self.lstm = nn.LSTM(cfg.emb + cfg.nz, cfg.dec_hidden, batch_first=True)
        self.z_to_c = nn.Linear(cfg.nz, cfg.dec_hidden, bias=False)
        self.out = nn.Linear(cfg.dec_hidden + (cfg.nz if self.skip else 0), vocab_size, bias=False)

    def forward(self, inputs: Tensor, z: Tensor) -> Tensor:
        """inputs [B, T], z [B, S, nz] -> logits [B * S, T, V] (sample-major within sentence)."""
        return vocab_logits(self.out, self.states(inputs, z))

    def states(self, inputs: Tensor, z: Tensor) -> Tensor:
        """inputs [B, T], z [B, S, nz] -> what the output layer `out` reads, [B * S, T, H (+ nz)].

        The embedding is computed once per sentence and shared by its S samples.
        """
        batch, steps = inputs.shape
        samples = z.shape[1]
        embedded = self.dropout_in(self.embed(inputs))  # [B, T, E]
        embedded = embedded.unsqueeze(1).expand(batch, samples, steps, -1)
        z_steps = z.unsqueeze(2).expand(batch, samples, steps, z.shape[-1])
        lstm_in = torch.cat([embedded, z_steps], dim=-1).reshape(batch * samples, steps, -1)
        c0 = self.z_to_c(z.reshape(batch * samples, -1)).unsqueeze(0)
        outputs, _ = self.lstm(lstm_in, (torch.tanh(c0), c0))
        hidden = self.dropout_out(outputs)
        if self.skip:
            hidden = torch.cat([hidden, z_steps.reshape(batch * samples, steps, -1).to(hidden.dtype)], dim=-1)
        return hidden
