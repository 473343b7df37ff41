"""The amortisation gap (Cremer et al. 2018): the ELBO the encoder leaves unclaimed, per sentence.

For a sentence x the gap is L(x; q*) - L(x; q_enc): the ELBO after optimising that sentence's own
Gaussian q(z|x) = N(mu, diag e^logvar) with the decoder fixed, minus the ELBO at the encoder's
(mu, logvar). It puts a number on He et al.'s (2019) inference lag: an encoder that gives less than
the decoder could use leaves a gap; where the decoder ignores z there is nothing to gain.

Cremer et al.'s code (github.com/chriscremer/Inference-Suboptimality, models/optimize_local_q.py,
`optimize_local_q_dist`): Adam at lr 1e-3 on each datapoint's (mean, logvar) started at (0, 0), 50 z
samples a step, until the mean loss over 100 steps has not improved for more than 10 such checks; the
final ELBO from 5,000 samples; 100 datapoints per checkpoint (gaps_over_training_exp/compute_gaps.py,
`n_data`). Here, with the `train.gap_*` settings:

- Adam, their optimiser, with `gap_samples` z per sentence drawn afresh each step (default 1, theirs
  50: the cost of a step grows with it, and Adam copes with the noisier gradient);
- a fixed number of steps (`gap_steps`, default 100) instead of their stop rule, so every epoch costs
  the same; and for that budget a larger lr (`gap_lr`, default 1e-2, theirs 1e-3). Measured on the
  synthetic dataset (100 validation sentences, 10 samples): 100 steps at 1e-3 found 0.043 nats, at
  1e-2 0.096, and 300 or 1,000 steps at 1e-2 0.098 and 0.092: converged at 1e-2, half-way at 1e-3;
- the start is the encoder's output, not (0, 0), so a short budget measures how much better than the
  encoder a few steps get: a lower bound on the gap, never the optimiser's way back from the prior;
- both ELBOs on the same `gap_samples` draws (common random numbers: their difference keeps little of
  the sampling noise), with the reconstruction term from those draws and the KL in closed form, as the
  training loss has them.

Everything random comes from its own generator and the model is only read (eval mode, gradients
taken with respect to (mu, logvar) alone), so measuring the gap changes no training update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from bench.config import RunConfig
from bench.data.batching import Batch
from bench.evaluate import evaluation_subset, token_bounded_batches
from bench.metrics import gaussian_kl
from bench.models import SentenceVAE


@dataclass(frozen=True)
class Gap:
    """Per sentence (in the order of the batches): the ELBO at the encoder's q and at the optimised q,
    in nats."""

    encoder: Tensor  # [N]
    optimised: Tensor  # [N]

    @property
    def per_sentence(self) -> Tensor:
        return self.optimised - self.encoder

    def record(self) -> dict[str, float]:
        """The keys of an epoch's validation record (metrics.json `validation`): means per sentence."""
        return {"amortisation_gap": float(self.per_sentence.mean()),
                "gap_elbo_encoder": float(self.encoder.mean()),
                "gap_elbo_optimised": float(self.optimised.mean())}


def elbo_at(model: SentenceVAE, batch: Batch, mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """ELBO [B] of q = N(mu, diag e^logvar) with z = mu + e^(logvar/2) eps for the given eps [B, S, nz]:
    the mean of log p(x|z) over the S draws, minus KL(q || N(0, I)) in closed form."""
    z = mu.unsqueeze(1) + torch.exp(0.5 * logvar).unsqueeze(1) * eps
    return model.log_likelihood(batch, z).float().mean(dim=1) - gaussian_kl(mu, logvar)


def optimise_batch(model: SentenceVAE, batch: Batch, *, steps: int, samples: int, lr: float,
                   generator: torch.Generator) -> Gap:
    """Each sentence's (mu, logvar) from the encoder's output, `steps` Adam steps on its own ELBO.

    The sentences share one Adam, which acts element by element, and the loss is their sum, so each
    sentence is optimised as if alone. The draws for the final comparison come first from `generator`,
    so they do not depend on `steps`.
    """
    with torch.no_grad():
        mu0, logvar0 = (t.float() for t in model.encode(batch))
    shape = (len(batch), samples, mu0.shape[1])
    final = torch.randn(shape, generator=generator).to(mu0.device)
    mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([mu, logvar], lr=lr)
    for _ in range(steps):
        eps = torch.randn(shape, generator=generator).to(mu0.device)
        loss = -elbo_at(model, batch, mu, logvar, eps).sum()
        mu.grad, logvar.grad = torch.autograd.grad(loss, [mu, logvar])  # the model's .grad stays as it was
        optimiser.step()
    with torch.no_grad():
        return Gap(elbo_at(model, batch, mu0, logvar0, final), elbo_at(model, batch, mu, logvar, final))


@contextlib.contextmanager
def _rnn_backward_in_eval_mode() -> Iterator[None]:
    """cuDNN's LSTM refuses a backward pass in eval mode; PyTorch's own kernels do not. No effect on CPU."""
    enabled = torch.backends.cudnn.enabled
    torch.backends.cudnn.enabled = False
    try:
        yield
    finally:
        torch.backends.cudnn.enabled = enabled


def amortisation_gap(model: SentenceVAE, sentences: list[list[int]], *, steps: int, samples: int, lr: float,
                     seed: int, device: torch.device, cells: int) -> Gap:
    """The gap of every sentence, in eval mode (no dropout), the model's mode restored after.

    Batches hold at most `cells` sentence x sample x position cells (as `eval.iw_tokens` bounds the
    final evaluation's memory); the draws come from a generator seeded with `seed`.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    parts = []
    try:
        with _rnn_backward_in_eval_mode():
            for batch in token_bounded_batches(sentences, cells, samples):
                parts.append(optimise_batch(model, batch.to(device), steps=steps, samples=samples, lr=lr,
                                            generator=generator))
    finally:
        model.train(was_training)
    return Gap(torch.cat([part.encoder for part in parts]).cpu(),
               torch.cat([part.optimised for part in parts]).cpu())


def validation_gap(model: SentenceVAE, valid: list[list[int]], cfg: RunConfig,
                   device: torch.device) -> dict[str, float]:
    """The epoch-end record: the gap on `train.gap_sentences` validation sentences, the same sentences
    (a subset seeded by `data.split_seed`, as the final evaluation's) and the same draws (seeded by the
    run's seed) every epoch, so epochs and remedies compare."""
    sentences = evaluation_subset(valid, cfg.train.gap_sentences, cfg.data.split_seed)
    gap = amortisation_gap(model, sentences, steps=cfg.train.gap_steps, samples=cfg.train.gap_samples,
                           lr=cfg.train.gap_lr, seed=cfg.seed, device=device, cells=cfg.eval.iw_tokens)
    return gap.record()
