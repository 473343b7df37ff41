"""He et al.'s posterior-mean space: what the model believes about z versus what the encoder says.

For a scalar latent, the model posterior p(z|x) ∝ p(z) p(x|z) is computed by
dense quadrature on a grid; its mean is compared with the encoder mean
E_q[z|x]. In a collapsed run both shrink to the origin; in a healthy one the
points follow the diagonal (He et al. 2019, Fig. 1 and 4).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bench.data.batching import Batch
from bench.models import SentenceVAE

# The reference grid: 400 points over [-20, 20) in steps of 0.1 (He et al.'s code).
GRID = torch.arange(-20.0, 20.0, 0.1)


# Sentence x grid point x position cells per decoder call, as eval.iw_tokens for the IW NLL.
CELLS = 8192


@torch.inference_mode()
def model_posterior_mean(
    model: SentenceVAE, batch: Batch, grid: Tensor = GRID, cells: int = CELLS
) -> Tensor:
    """E_p(z|x)[z] for each sentence of `batch` by quadrature over `grid`, shape [B].

    p(z_k|x) = softmax_k(log p(z_k) + log p(x|z_k)); needs nz = 1. The grid is
    scored a chunk at a time, at most `cells` sentence x point x position cells
    per decoder call.
    """
    if model.nz != 1:
        raise ValueError(f"posterior-mean quadrature needs a scalar latent (nz = 1), got nz = {model.nz}")
    grid = grid.to(batch.tokens.device)
    points = max(1, cells // (len(batch) * batch.tokens.shape[1]))
    log_likelihood = torch.cat([
        model.log_likelihood(batch, chunk.view(1, -1, 1).expand(len(batch), -1, 1)).float()
        for chunk in grid.split(points)
    ], dim=1)
    log_prior = -0.5 * grid**2 - 0.5 * math.log(2 * math.pi)
    return (torch.softmax(log_likelihood + log_prior, dim=-1) * grid).sum(dim=-1)


@torch.inference_mode()
def posterior_mean_points(
    model: SentenceVAE, batches: list[Batch], device: torch.device
) -> dict[str, Tensor]:
    """Encoder mean and model posterior mean for every sentence of `batches` (eval mode)."""
    was_training = model.training
    model.eval()
    encoder, exact, index = [], [], []
    for batch in batches:
        batch = batch.to(device)
        mu, _ = model.encode(batch)
        encoder.append(mu[:, 0].float().cpu())
        exact.append(model_posterior_mean(model, batch).cpu())
        index.append(batch.index)
    model.train(was_training)
    return {"encoder_mean": torch.cat(encoder), "model_mean": torch.cat(exact), "sentence": torch.cat(index)}
