"""The decoders' output layer: logits on 2-D states, and, without gradients, the targets' log-probabilities
block by block.

`nn.Linear` on a 3-D tensor goes through `torch.matmul`, which folds the
batch and time dimensions into one matrix product only when it can; for the
LSTM decoder in evaluation (inference mode under bf16 autocast) it did not,
and fell back to a batched product that copies the whole vocabulary-by-hidden
weight once per sentence sample. Measured on the large config (hidden
1,024, 6,024 words), IW NLL of 3 test sentences at k = 500: 33.9 s, 90% of
it in those copies, against 3.5 s in fp32. Flattening first costs one copy of the hidden states at most.

Scoring needs only log p(target) = logit[target] - logsumexp(logits) per cell, never the logits
themselves. Forming them for thousands of cells at once (2,048 x 6,024 floats, 49 MB) runs the matrix
product and the log-softmax at a third of their speed on small blocks, and computes padding cells too.
`target_log_probs` keeps the real cells only and takes them `block_rows` at a time, so each block's
logits stay in cache (docs/history.md, "IW NLL in blocks").
"""

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bench.data.vocab import PAD

BLOCK_LOGITS = 1_572_864  # logits per block (6 MB of fp32): 261 rows at 6,024 words, measured best


def vocab_logits(out: nn.Linear, hidden: Tensor) -> Tensor:
    """[..., H] hidden states -> [..., V] logits by one 2-D matrix product."""
    flat = hidden.reshape(-1, hidden.shape[-1])
    return out(flat).view(*hidden.shape[:-1], out.out_features)


def block_rows(vocab_size: int) -> int:
    """Cells per block so that a block's logits are about BLOCK_LOGITS floats (at least 16 rows)."""
    return max(16, BLOCK_LOGITS // vocab_size)


def target_log_probs(out: nn.Linear, hidden: Tensor, targets: Tensor) -> Tensor:
    """log p(target) per cell from hidden states [..., H] and targets [...] (0 where the target is PAD).

    Equal, to float32 rounding, to -cross_entropy(vocab_logits(out, hidden), targets) with the
    log-softmax in float32 (tests/test_model.py). For scoring: callers run it without gradients.
    """
    keep = targets != PAD
    states, wanted = hidden[keep], targets[keep]
    scores = hidden.new_zeros(targets.shape, dtype=torch.float32)
    picked = scores.new_empty(len(wanted))
    rows = block_rows(out.out_features)
    for start in range(0, len(wanted), rows):
        logits = out(states[start:start + rows]).float()
        picked[start:start + rows] = -F.cross_entropy(logits, wanted[start:start + rows], reduction="none")
    scores[keep] = picked
    return scores
