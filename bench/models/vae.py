"""The sentence VAE: encoder, decoder, and the two quantities everything else needs.

`encode` gives q(z|x); `log_likelihood` gives log p(x|z) for S samples of z per
sentence in one decoder call. The training loss, the IW NLL and the
posterior-mean quadrature are all built from these two.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.config import ModelConfig
from bench.data.batching import Batch
from bench.data.vocab import PAD
from bench.metrics import gaussian_kl_per_dim, sample_posterior
from bench.models.encoder import LSTMEncoder
from bench.models.init import initialise_model
from bench.models.lstm_decoder import LSTMDecoder


@dataclass
class LossTerms:
    """Per-sentence terms of the negative ELBO for one batch, in nats."""

    rec: Tensor  # [B] -log p(x|z) for one sample z ~ q(z|x)
    kl_per_dim: Tensor  # [B, nz] analytic KL(q(z|x) || N(0, I)) per latent unit
    mu: Tensor  # [B, nz]
    logvar: Tensor  # [B, nz]

    @property
    def kl(self) -> Tensor:
        return self.kl_per_dim.sum(dim=-1)


class SentenceVAE(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: nn.Module, nz: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.nz = nz

    def encode(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """q(z|x) parameters for each sentence: mu, logvar [B, nz]."""
        return self.encoder(batch.tokens, batch.lengths)

    def log_likelihood(self, batch: Batch, z: Tensor, inputs: Tensor | None = None) -> Tensor:
        """log p(x|z) summed over each sentence's target tokens: z [B, S, nz] -> [B, S].

        `inputs` replaces the decoder inputs (word dropout); targets never change.
        """
        inputs = batch.inputs if inputs is None else inputs
        samples = z.shape[1]
        logits = self.decoder(inputs, z)  # [B*S, T, V]
        targets = batch.targets.repeat_interleave(samples, dim=0)
        token_nll = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            targets.reshape(-1),
            ignore_index=PAD,
            reduction="none",
        )
        return -token_nll.view(len(batch), samples, -1).sum(dim=-1)

    def loss_terms(
        self,
        batch: Batch,
        inputs: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> LossTerms:
        """One-sample ELBO terms, the training objective's ingredients."""
        mu, logvar = self.encode(batch)
        z = sample_posterior(mu, logvar, 1, generator)
        rec = -self.log_likelihood(batch, z, inputs).squeeze(1)
        return LossTerms(rec=rec, kl_per_dim=gaussian_kl_per_dim(mu, logvar), mu=mu, logvar=logvar)


def build_model(vocab_size: int, cfg: ModelConfig) -> SentenceVAE:
    """Build the VAE the config describes, initialised by `cfg.init`."""
    encoder = LSTMEncoder(vocab_size, cfg)
    if cfg.decoder == "cnn":
        from bench.models.cnn_decoder import DilatedCNNDecoder

        decoder: nn.Module = DilatedCNNDecoder(vocab_size, cfg)
    else:
        decoder = LSTMDecoder(vocab_size, cfg)
    model = SentenceVAE(encoder, decoder, cfg.nz)
    initialise_model(model, cfg.init)
    return model
