"""The sentence VAE: encoder, decoder, and the two quantities everything else needs.

`encode` gives q(z|x); `log_likelihood` gives log p(x|z) for S samples of z per
sentence in one decoder call. The training loss, the IW NLL and the
posterior-mean quadrature are all built from these two.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bench.config import ModelConfig
from bench.data.batching import Batch
from bench.errors import ConfigError
from bench.metrics import GAUSSIAN, DiagonalGaussian, PosteriorFamily, sample_posterior
from bench.models.bow import BagOfWords, bag_nll
from bench.models.encoder import LSTMEncoder
from bench.models.init import initialise_model
from bench.models.lstm_decoder import LSTMDecoder
from bench.models.projection import target_log_probs
from bench.models.token_loss import ZeroScratch, token_nll


@dataclass
class LossTerms:
    """Per-sentence terms of the negative ELBO for one batch, in nats."""

    rec: Tensor  # [B] -log p(x|z) for one sample z ~ q(z|x) (vMF in training: z the mean of `draws` samples)
    kl_per_dim: Tensor  # [B, nz] analytic KL(q(z|x) || p(z)) per latent unit (vMF: the constant / nz each)
    mu: Tensor  # [B, nz] (vMF: the unit mean direction)
    logvar: Tensor  # [B, nz] (vMF: [B, 0], kappa being fixed)
    aux: Tensor | None = None  # [B] auxiliary training loss of the model's own head (bag of words), on
    # the same z as rec; None without one. Not part of the ELBO: training adds it, metrics never read it.

    @property
    def kl(self) -> Tensor:
        return self.kl_per_dim.sum(dim=-1)


class SentenceVAE(nn.Module):
    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, nz: int, bow: BagOfWords | None = None, draws: int = 1
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.nz = nz
        self.draws = draws  # model.vmf_draws: in training, the decoder reads the mean of this many draws
        self.loss_scratch = ZeroScratch()  # the training loss's reused zeros (not a buffer: no state)
        if bow is not None:
            # A part of the generative half, as in Zhao et al.'s code (the "generationNetwork" scope): the
            # decoder's optimiser steps it, its init and `reset_decoder` reach it, and an encoder-only
            # step (aggressive training) leaves it alone.
            decoder.add_module("bow", bow)

    @property
    def bow(self) -> BagOfWords | None:
        """The bag-of-words head on z (`model.bow_hidden` > 0), held by the decoder; None without one."""
        return getattr(self.decoder, "bow", None)

    def follow_kl_weight(self, weight: float) -> None:
        """Tell the encoder the training KL weight: DU-VAE's variance floor and dropout act only at 1."""
        if isinstance(self.encoder, LSTMEncoder):
            self.encoder.full_kl_weight = weight >= 1.0

    @property
    def family(self) -> PosteriorFamily:
        """The family of q(z|x) and the prior (`model.posterior`): sampling, the KL and the metrics use it."""
        return getattr(self.encoder, "family", GAUSSIAN)

    def encode(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """q(z|x) parameters for each sentence, in `family`'s terms: mu, logvar [B, nz] (vMF: the unit
        direction [B, nz] and [B, 0])."""
        return self.encoder(batch.tokens, batch.lengths)

    def log_likelihood(self, batch: Batch, z: Tensor, inputs: Tensor | None = None) -> Tensor:
        """log p(x|z) summed over each sentence's target tokens: z [B, S, nz] -> [B, S].

        `inputs` replaces the decoder inputs (word dropout); targets never change. Without gradients
        (validation, IW NLL) the output layer runs block by block on the real cells only
        (`target_log_probs`): the same values, at up to twice the speed; training keeps one product and
        `token_nll`, cross-entropy's values and gradients without its zero fill.
        """
        inputs = batch.inputs if inputs is None else inputs
        samples = z.shape[1]
        targets = batch.targets.repeat_interleave(samples, dim=0)
        if not torch.is_grad_enabled():
            scores = target_log_probs(self.decoder.out, self.decoder.states(inputs, z), targets)
            return scores.view(len(batch), samples, -1).sum(dim=-1)
        logits = self.decoder(inputs, z)  # [B*S, T, V]
        nll = token_nll(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), self.loss_scratch)
        return -nll.view(len(batch), samples, -1).sum(dim=-1)

    def loss_terms(
        self,
        batch: Batch,
        inputs: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> LossTerms:
        """One-sample ELBO terms, the training objective's ingredients (and the bag-of-words loss on the
        same z, when the model has the head).

        In training mode with `draws` > 1 (the vMF's `model.vmf_draws`) z is the mean of that many draws
        from `generator`, Xu & Durrett's decoder input (`RNNVAE.forward`): not a draw from q, so `rec`
        is then their training term, not the ELBO's. Eval mode (validation, the final ELBO) draws one.
        """
        mu, logvar = self.encode(batch)
        # The Gaussian draw goes through this module's `sample_posterior`: benchmarks/authors_code.py
        # replaces it to give the harness and the authors' code the same noise.
        sample = sample_posterior if isinstance(self.family, DiagonalGaussian) else self.family.sample
        draws = self.draws if self.training else 1
        z = sample(mu, logvar, draws, generator)
        if draws > 1:  # every training step passes here: no averaging copy for the one draw
            z = z.mean(dim=1, keepdim=True)
        rec = -self.log_likelihood(batch, z, inputs).squeeze(1)
        aux = None if self.bow is None else bag_nll(self.bow(z.squeeze(1)), batch.targets)
        kl_per_dim = self.family.kl_per_dim(mu, logvar)
        return LossTerms(rec=rec, kl_per_dim=kl_per_dim, mu=mu, logvar=logvar, aux=aux)


def build_model(vocab_size: int, cfg: ModelConfig) -> SentenceVAE:
    """Build the VAE the config describes, initialised by `cfg.init`."""
    if cfg.dec_skip and cfg.decoder != "lstm":
        raise ConfigError(f"model.dec_skip: only the LSTM decoder has skip connections, not '{cfg.decoder}'")
    encoder = LSTMEncoder(vocab_size, cfg)
    if cfg.decoder == "cnn":
        from bench.models.cnn_decoder import DilatedCNNDecoder

        decoder: nn.Module = DilatedCNNDecoder(vocab_size, cfg)
    else:
        decoder = LSTMDecoder(vocab_size, cfg)
    bow = BagOfWords(cfg.nz, cfg.bow_hidden, vocab_size) if cfg.bow_hidden > 0 else None
    model = SentenceVAE(encoder, decoder, cfg.nz, bow, cfg.vmf_draws)
    initialise_model(model, cfg.init)
    return model
