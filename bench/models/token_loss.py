"""The training loss per target token, -log softmax(logits)[target], with a backward that skips one pass.

`F.cross_entropy(..., reduction="none")` backpropagates through `nll_loss`,
whose backward allocates a cells x vocabulary tensor, fills it with zeros
and writes -grad at each row's target; the log-softmax backward then reads
it. At the ptb-small suite's size that zero fill is a 12 MB write per step,
about 6% of a training step's time (torch.profiler, 1 thread).
`token_nll` keeps one zeroed scratch tensor per model instead: it writes the
same -grad entries, runs the same log-softmax backward kernel on it, and
writes the zeros back. The kernel sees the same input as in
`F.cross_entropy`, so the loss and every gradient are equal bit for bit
(tests/test_token_loss.py), and benchmarks/step_check.py's differences to
the authors' code are unchanged. The price is memory: the buffer, one
cells x vocabulary tensor of the largest step so far, stays allocated
between steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from bench.data.vocab import PAD


class ZeroScratch:
    """A zeroed float buffer reused across steps, grown when a step needs more; every user leaves it zero."""

    def __init__(self) -> None:
        self.flat: Tensor | None = None

    def zeros(self, like: Tensor) -> Tensor:
        """A zero tensor of `like`'s shape, dtype and device, a view of the buffer."""
        needed = like.numel()
        flat = self.flat
        if flat is None or flat.numel() < needed or flat.dtype != like.dtype or flat.device != like.device:
            flat = self.flat = torch.zeros(needed, dtype=like.dtype, device=like.device)
        return flat[:needed].view(like.shape)


class _TokenNLL(torch.autograd.Function):
    """-log softmax(logits)[target] per row (0 at PAD); backward as nll_loss's then log_softmax's."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, targets: Tensor, scratch: ZeroScratch) -> Tensor:
        log_probs = F.log_softmax(logits, dim=-1)
        padding = targets == PAD
        nll = -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)
        rows = (~padding).nonzero().squeeze(1)
        ctx.save_for_backward(log_probs, rows, targets[rows])
        ctx.scratch = scratch
        return nll.masked_fill(padding, 0.0)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        log_probs, rows, columns = ctx.saved_tensors
        upstream = ctx.scratch.zeros(log_probs)  # nll_loss's gradient: -grad at each real row's target
        upstream[rows, columns] = -grad[rows]
        try:
            return torch._log_softmax_backward_data(upstream, log_probs, 1, log_probs.dtype), None, None
        finally:
            upstream[rows, columns] = 0.0


def token_nll(logits: Tensor, targets: Tensor, scratch: ZeroScratch) -> Tensor:
    """F.cross_entropy(logits, targets, ignore_index=PAD, reduction="none") for logits [N, V] and
    targets [N], with the same values and gradients; `scratch` holds the reused zeros."""
    return _TokenNLL.apply(logits, targets, scratch)
