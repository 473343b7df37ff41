"""Dilated causal CNN decoder p(x|z) (Yang et al. 2017), a weaker decoder than the LSTM."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.config import ModelConfig
from bench.data.vocab import PAD
from bench.models.projection import vocab_logits

KERNEL = 3


def receptive_field(dilations: tuple[int, ...] | list[int], kernel: int = KERNEL) -> int:
    """Tokens a causal stack of dilated convolutions sees: 1 + (kernel - 1) sum(d).

    >>> receptive_field((1, 2, 4, 8, 16))
    63
    """
    return 1 + (kernel - 1) * sum(dilations)


class ResidualBlock(nn.Module):
    """x + tanh(a) * sigmoid(b), with [a; b] a causal dilated convolution of x (kernel 3).

    The input is padded on the left only, by (kernel - 1) x dilation, so
    position t sees positions t - 2d .. t and never the future. The gated
    unit of WaveNet (van den Oord et al. 2016, arXiv:1609.03499) bounds what
    each block adds to the residual stream: with ReLU blocks the stack
    diverged or died under the reference protocol's plain SGD at lr 1.
    """

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.left_pad = (KERNEL - 1) * dilation
        self.conv = nn.Conv1d(channels, 2 * channels, KERNEL, dilation=dilation)

    def forward(self, x: Tensor) -> Tensor:
        """x [N, C, T] -> [N, C, T]."""
        signal, gate = self.conv(F.pad(x, (self.left_pad, 0))).chunk(2, dim=1)
        return x + torch.tanh(signal) * torch.sigmoid(gate)


class DilatedCNNDecoder(nn.Module):
    """Input at position t is [dropout(embed(x_{t-1})); z]; a stack of residual dilated convolutions.

    Yang et al. (ICML 2017, arXiv:1702.08139) control how much context the
    decoder sees by its receptive field, 1 + 2 sum(dilations) tokens for
    kernel 3: the smaller it is, the more the decoder must rely on z. z is
    concatenated to the embedding at every position, as in their model.
    The concatenation goes through one linear map, computed as
    W_e embed + W_z z so that the S samples of z per sentence share the
    embedding part (the IW NLL scores hundreds of samples per sentence).
    """

    def __init__(self, vocab_size: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.emb, padding_idx=PAD)
        self.dropout_in = nn.Dropout(cfg.dropout_in)
        self.dropout_out = nn.Dropout(cfg.dropout_out)
        self.embed_to_hidden = nn.Linear(cfg.emb, cfg.cnn_channels)
        self.z_to_hidden = nn.Linear(cfg.nz, cfg.cnn_channels, bias=False)
        self.blocks = nn.ModuleList(
            ResidualBlock(cfg.cnn_channels, dilation) for dilation in cfg.cnn_dilations
        )
        self.out = nn.Linear(cfg.cnn_channels, vocab_size, bias=False)
        self.receptive_field = receptive_field(cfg.cnn_dilations)

    def forward(self, inputs: Tensor, z: Tensor) -> Tensor:
        """inputs [B, T], z [B, S, nz] -> logits [B * S, T, V] (sample-major within sentence)."""
        return vocab_logits(self.out, self.states(inputs, z))

    def states(self, inputs: Tensor, z: Tensor) -> Tensor:
        """inputs [B, T], z [B, S, nz] -> what the output layer `out` reads, [B * S, T, C]."""
        batch, steps = inputs.shape
        samples = z.shape[1]
        words = self.embed_to_hidden(self.dropout_in(self.embed(inputs)))  # [B, T, C]
        latent = self.z_to_hidden(z)  # [B, S, C]
        hidden = (words.unsqueeze(1) + latent.unsqueeze(2)).reshape(batch * samples, steps, -1)
        hidden = hidden.transpose(1, 2)  # [B*S, C, T]
        for block in self.blocks:
            hidden = block(hidden)
        return self.dropout_out(hidden.transpose(1, 2))
