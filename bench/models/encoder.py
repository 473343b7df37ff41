"""LSTM inference network q(z|x) = N(mu, diag sigma^2), or vMF(mu, kappa) on the unit sphere."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.config import ModelConfig
from bench.data.vocab import PAD
from bench.models.posterior import (
    delta_posterior,
    floored_logvar,
    posterior_family,
    rescale_to_rms,
    sigma_bounds,
)


class LSTMEncoder(nn.Module):
    """Reads `<s> x </s>`; the last hidden state gives (mu, logvar) by one bias-free Linear.

    With `bn_gamma > 0` the mean goes through BatchNorm with scale gamma and a
    learnable shift (BN-VAE, Zhu et al. 2020): the expected KL is then bounded
    below by nz * gamma^2 / 2, so it cannot collapse. `bn_scale = "rms"` lets
    the scale learn at root mean square gamma (DU-VAE). `var_floor` and
    `var_dropout` are DU-VAE's variance (with `var_gate`, only while the
    training KL weight is 1, as their code), `delta_kl` delta-VAE's whole
    posterior (bench/models/posterior.py).

    With `posterior = "vmf"` a bias-free Linear gives the mean direction,
    normalised to unit length (Xu & Durrett's `vMF.estimate_param`), and the
    second output has no columns: kappa is fixed (`family` holds it).
    """

    def __init__(self, vocab_size: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.emb, padding_idx=PAD)
        self.lstm = nn.LSTM(cfg.emb, cfg.enc_hidden, batch_first=True)
        self.family = posterior_family(cfg)
        self.vmf = cfg.posterior == "vmf"
        if self.vmf:
            self.to_direction = nn.Linear(cfg.enc_hidden, cfg.nz, bias=False)
        else:
            self.to_gaussian = nn.Linear(cfg.enc_hidden, 2 * cfg.nz, bias=False)
        self.bn: nn.BatchNorm1d | None = None
        self.bn_rms = cfg.bn_gamma if cfg.bn_scale == "rms" else 0.0  # 0: the scale stays fixed
        if cfg.bn_gamma > 0:
            self.bn = nn.BatchNorm1d(cfg.nz)
            self.bn.weight.requires_grad_(bool(self.bn_rms))
            nn.init.constant_(self.bn.weight, cfg.bn_gamma)
        self.var_floor, self.var_dropout = cfg.var_floor, cfg.var_dropout
        self.var_gate = cfg.var_gate
        self.full_kl_weight = True  # the trainer's KL weight is 1 (set by `SentenceVAE.follow_kl_weight`)
        self.delta_kl = cfg.delta_kl
        self.sigma_bounds = sigma_bounds(cfg.delta_kl) if cfg.delta_kl > 0 else None

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """tokens [B, L] (`<s> x </s>` + padding), lengths [B] = n + 1 -> mu, logvar [B, nz]
        (vMF: the unit direction [B, nz] and [B, 0]).

        The LSTM runs over the padding too, but it is causal, so the output at
        position `lengths` (the `</s>`) only saw the sentence itself.
        """
        outputs, _ = self.lstm(self.embed(tokens))
        last = outputs[torch.arange(tokens.shape[0], device=tokens.device), lengths]
        if self.vmf:  # normalised in float32, as the Gaussian transforms of bench/models/posterior.py
            direction = F.normalize(self.to_direction(last).float(), dim=-1)
            return direction, direction.new_zeros(direction.shape[0], 0)
        mu, logvar = self.to_gaussian(last).chunk(2, dim=-1)
        if self.bn is not None:
            if self.bn_rms:
                rescale_to_rms(self.bn.weight, self.bn_rms)
            mu = self.bn(mu)
        if (self.var_floor or self.var_dropout) and (self.full_kl_weight or not self.var_gate):
            logvar = floored_logvar(logvar, self.var_floor, self.var_dropout, self.training)
        if self.sigma_bounds is not None:
            mu, logvar = delta_posterior(mu, logvar, self.delta_kl, self.sigma_bounds)
        return mu, logvar
