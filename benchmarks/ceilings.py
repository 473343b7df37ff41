"""How fast any implementation could go on this machine: two measured ceilings per workload.

The perf script compares the harness with the reference; these ceilings say
how far above the reference a target can lie at all, on these cores, for a
model that computes the exact softmax normaliser:

- **the big kernels alone**: the hidden-to-vocabulary projection with the
  cross-entropy over the real (unpadded) tokens, plus the LSTMs (decoder;
  encoder too when training), forward and, when training, backward, timed
  at the workload's own shapes and precision with the kernels the model
  uses (`nn.LSTM`, oneDNN on CPU). Every VAE step pays these; only better
  kernels (or less arithmetic) beat it. The output layer's share is
  reported apart.
- **matmul FLOPs at peak**: the multiply-adds of every matrix product of
  the step (output layer and the LSTMs' gates, encoder included when
  training) divided by this machine's best measured rate (large square
  products and the output layer's own shape). No schedule of the same
  arithmetic is faster.

A target above a ceiling cannot be met by batching or overhead cuts; only
less arithmetic (a sampled softmax, smaller models) or faster arithmetic
(AMX, a GPU) moves it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.train import autocast

REPEATS = 5  # timed repetitions per ceiling; the fastest counts


def _fastest(work: Any, repeats: int = REPEATS) -> float:
    """Seconds of the fastest of `repeats` calls of `work`, after one untimed warm-up."""
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def peak_matmul_flops(precision: str, workload: tuple[int, int, int]) -> float:
    """The best FLOP/s of a few large matrix products at `precision`: the machine's best case.

    Square products alone understate it: with AMX, the output layer's own
    rectangular shape ran bf16 at 3.3 TFLOP/s against 2.0 for 2,048 squared.
    `workload` is that shape (rows, inner, columns), tried in both orders.
    """
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    rows, inner, columns = workload
    shapes = [(2048, 2048, 2048), (4096, 4096, 4096), (rows, inner, columns), (columns, rows, inner)]
    best = 0.0
    for m, k, n in shapes:
        left, right = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        best = max(best, 2 * m * k * n / _fastest(lambda: torch.mm(left, right), repeats=3))  # noqa: B023
    return best


# `grad` says what the backward pass computes: "none" (evaluation: no backward)
# or "all" (inputs and weights).


def _training_token_nll() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss per token as the model on the path computes it: `token_nll`, or, for a revision
    from before it (perf.py --before), PyTorch's cross-entropy."""
    try:
        from bench.models.token_loss import ZeroScratch, token_nll
    except ImportError:
        return lambda logits, targets: F.cross_entropy(logits, targets, reduction="none")
    scratch = ZeroScratch()
    return lambda logits, targets: token_nll(logits, targets, scratch)


def output_layer_seconds(cells: int, hidden: int, vocab: int, precision: str, grad: str) -> float:
    """Seconds for projection + cross-entropy over `cells` target tokens, and the backward `grad` asks for
    (training: through `token_nll`, as the model trains)."""
    generator = torch.Generator().manual_seed(0)
    backward = grad != "none"
    states = torch.randn(cells, hidden, generator=generator, requires_grad=backward)
    weight = (torch.randn(vocab, hidden, generator=generator) * 0.1).requires_grad_(grad == "all")
    targets = torch.randint(1, vocab, (cells,), generator=generator)  # no PAD: every cell is real
    training_loss = _training_token_nll()

    def step() -> None:  # as SentenceVAE.log_likelihood: no bias, fp32 cross-entropy per token
        with autocast(precision, "cpu"):
            logits = F.linear(states, weight).float()
        if backward:
            training_loss(logits, targets).sum().backward()
        else:
            F.cross_entropy(logits, targets, reduction="none").sum().item()

    with torch.set_grad_enabled(backward):
        return _fastest(step)


def lstm_seconds(batch: int, steps: int, inputs: int, hidden: int, precision: str, grad: str) -> float:
    """Seconds for one `nn.LSTM` pass over [batch, steps, inputs], and the backward `grad` asks for."""
    torch.manual_seed(0)
    backward = grad != "none"
    lstm = nn.LSTM(inputs, hidden, batch_first=True).requires_grad_(grad == "all")
    sequence = torch.randn(batch, steps, inputs, requires_grad=backward)

    def step() -> None:
        with autocast(precision, "cpu"):
            outputs, _ = lstm(sequence)
        if backward:
            outputs.float().sum().backward()

    with torch.set_grad_enabled(backward):
        return _fastest(step)


def lstm_flops(inputs: int, hidden: int) -> int:
    """Forward multiply-add FLOPs of one LSTM time step: four gates over [input, state]."""
    return 2 * 4 * hidden * (inputs + hidden)


def output_layer_flops(dec_hidden: int, vocab: int) -> int:
    """Forward multiply-add FLOPs of the hidden-to-vocabulary projection for one cell: the product that
    dominates both a step and scoring at every size this project runs."""
    return 2 * dec_hidden * vocab


def train_flops_per_token(emb: int, nz: int, enc_hidden: int, dec_hidden: int, vocab: int) -> int:
    """Matmul FLOPs of one training step per target token: forward, and backward at twice that."""
    forward = (output_layer_flops(dec_hidden, vocab) + lstm_flops(emb + nz, dec_hidden)
               + lstm_flops(emb, enc_hidden))
    return 3 * forward


def iw_flops_per_cell(emb: int, nz: int, dec_hidden: int, vocab: int) -> int:
    """Matmul FLOPs of scoring one token under one z sample (decoder forward; the encoder runs once)."""
    return output_layer_flops(dec_hidden, vocab) + lstm_flops(emb + nz, dec_hidden)


def scoring_block(vocab: int, per_call: int) -> int:
    """Cells per output-layer product when scoring: the model's blocks (bench.models.projection), or,
    for a revision from before them (perf.py --before), the whole decoder call of `per_call` cells."""
    from bench.models import projection

    block_rows = getattr(projection, "block_rows", None)
    return block_rows(vocab) if block_rows else per_call
