"""Skip-VAE (Dieng et al. 2019): z feeds the decoder's output layer directly, at every position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.errors import ConfigError
from remedies.base import Remedy
from remedies.registry import register

if TYPE_CHECKING:
    from bench.config import RunConfig


@register("skip-vae")
@dataclass
class SkipVAE(Remedy):
    """Generative skip connections: every word's logits read [h_t; z], not h_t alone (Dieng et al. 2019).

    Dieng et al. (AISTATS 2019, arXiv:1807.04863) show that connecting z to
    every layer of the generative network, not only to its input, keeps the
    mutual information between x and z from vanishing. Their text code
    (yoonkim/skip-vae, models_text_skip.py, `--skip 1`, the default of
    train_text_skip.py) keeps z in the LSTM's inputs and initial state and
    concatenates it to the dropped-out hidden state before the output layer;
    with one decoder layer, as here, that is the whole change. DG-VAEs'
    skip decoder (zhangjf-nlp/DG-VAEs, LSTMDecoder with `--add_skip`) does
    the same. The decoder implements it (`model.dec_skip`); this remedy
    turns it on. It needs the LSTM decoder.
    """

    paper = "Dieng et al. 2019, AISTATS, arXiv:1807.04863"

    def configure(self, cfg: RunConfig) -> RunConfig:
        """Give the LSTM decoder's output layer z as well."""
        if cfg.model.decoder != "lstm":
            raise ConfigError(f"skip-vae: needs the LSTM decoder, not model.decoder = '{cfg.model.decoder}'")
        cfg.model.dec_skip = True
        return cfg
