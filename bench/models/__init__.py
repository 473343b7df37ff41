"""Sentence VAE: LSTM encoder, LSTM or dilated-CNN decoder."""

from bench.models.vae import SentenceVAE, build_model

__all__ = ["SentenceVAE", "build_model"]
