"""He et al.'s (2019) synthetic corpus: sentences from a random LSTM driven by a known z.

The true latent of every sentence is known, so one can see whether a VAE's
posterior recovers it. Recovered from `synthetic-data/` in
jxhe/vae-lagging-encoder:

- z is drawn from a uniform mixture of unit-variance Gaussians: 4 at
  (+-2, +-2) for nz = 2 (theirs). For the scalar variant (nz = 1, the
  posterior-mean plot) we use 2 components at -2 and +2, the 1-D analogue:
  still multi-modal, still centred.
- A 1-layer LSTM (embedding 100, hidden 100) reads `[embed(prev); z]`;
  c0 = W_c z and h0 = tanh(c0); logits = W_o h + W_z z. No bias in the
  linear maps; the LSTM keeps its two bias vectors. Every parameter is
  U(-1, 1) except W_z, U(-5, 5), so z visibly moves the word distribution.
- The first token is uniform over V; each of the next `length - 1` tokens is
  sampled from the softmax of the logits.

Everything is drawn from one local `torch.Generator`: the global RNG is
never touched, so generating data cannot shift a run's own randomness.
All N sentences advance together, one LSTM step per position.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bench.errors import ConfigError

EMB = 100
HIDDEN = 100
_ROWS = 2048  # sentences per chunk: a [2048, V] step stays in cache
_CENTRES = {
    1: torch.tensor([[-2.0], [2.0]]),
    2: torch.tensor([[-2.0, -2.0], [2.0, 2.0], [-2.0, 2.0], [2.0, -2.0]]),
}


def generate(
    n: int, vocab_size: int, length: int, nz: int, seed: int
) -> tuple[Tensor, Tensor]:
    """Sample `n` sentences and their latents from a generator fixed by `seed`.

    Returns `tokens` [n, length] with word indices in [0, vocab_size) and
    `z` [n, nz]. The same arguments always give the same tensors.
    """
    if nz not in _CENTRES:
        raise ConfigError(f"data.synthetic_nz must be 1 or 2, got {nz}")
    g = torch.Generator().manual_seed(seed)
    params = _init_params(vocab_size, nz, g)
    z = sample_latents(n, nz, g)
    return _sample_tokens(params, z, length, g), z


def sample_latents(n: int, nz: int, generator: torch.Generator) -> Tensor:
    """z ~ uniform mixture of unit-variance Gaussians at the corners `_CENTRES[nz]`."""
    centres = _CENTRES[nz]
    component = torch.randint(len(centres), (n,), generator=generator)
    return centres[component] + torch.randn(n, nz, generator=generator)


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> Tensor:
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


def _init_params(vocab_size: int, nz: int, g: torch.Generator) -> dict[str, Tensor]:
    """The generator LSTM's weights, in nn.LSTM's layout (gates i, f, g, o)."""
    return {
        "embed": _uniform((vocab_size, EMB), 1.0, g),
        "w_ih": _uniform((4 * HIDDEN, EMB + nz), 1.0, g),
        "w_hh": _uniform((4 * HIDDEN, HIDDEN), 1.0, g),
        "b_ih": _uniform((4 * HIDDEN,), 1.0, g),
        "b_hh": _uniform((4 * HIDDEN,), 1.0, g),
        "w_c": _uniform((HIDDEN, nz), 1.0, g),
        "w_out": _uniform((vocab_size, HIDDEN), 1.0, g),
        "w_z": _uniform((vocab_size, nz), 5.0, g),
    }


def _sample_tokens(p: dict[str, Tensor], z: Tensor, length: int, g: torch.Generator) -> Tensor:
    """All sentences advance together, in row chunks that keep each step in cache.

    The randomness (first tokens, one uniform per later token) is drawn up
    front, so the chunk size cannot change the sentences. The input
    projection splits into a per-word table (embedding and both biases) and
    a per-sentence z term, so a step is one gather and two matmuls.
    """
    n, vocab_size = z.shape[0], p["embed"].shape[0]
    first = torch.randint(vocab_size, (n,), generator=g)
    uniforms = torch.rand(n, length - 1, generator=g)
    word_gates = p["embed"] @ p["w_ih"][:, :EMB].T + p["b_ih"] + p["b_hh"]  # [V, 4H]
    chunks = [
        _run_lstm(p, word_gates, z[i : i + _ROWS], first[i : i + _ROWS], uniforms[i : i + _ROWS])
        for i in range(0, n, _ROWS)
    ]
    return torch.cat(chunks)


def _run_lstm(
    p: dict[str, Tensor], word_gates: Tensor, z: Tensor, token: Tensor, uniforms: Tensor
) -> Tensor:
    """Sample `uniforms.shape[1]` tokens after `token` for one chunk of sentences."""
    z_gates = z @ p["w_ih"][:, EMB:].T  # [n, 4H]
    z_logits = z @ p["w_z"].T  # [n, V]
    w_hh_t, w_out_t = p["w_hh"].T, p["w_out"].T
    c = z @ p["w_c"].T
    h = torch.tanh(c)
    tokens = [token]
    for step in range(uniforms.shape[1]):
        gates = torch.addmm(word_gates[token] + z_gates, h, w_hh_t)
        i, f, cell, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(cell)
        h = torch.sigmoid(o) * torch.tanh(c)
        token = _inverse_cdf(torch.addmm(z_logits, h, w_out_t), uniforms[:, step])
        tokens.append(token)
    return torch.stack(tokens, dim=1)


def _inverse_cdf(logits: Tensor, u: Tensor) -> Tensor:
    """One draw per row from softmax(logits) given uniforms `u` [n]: first index with cdf > u.

    The same distribution as `torch.multinomial`, several times faster at
    [20000, 1000], and driven by uniforms drawn beforehand. `logits` is
    overwritten.
    """
    cdf = logits.sub_(logits.amax(dim=1, keepdim=True)).exp_().cumsum_(dim=1)
    index = torch.searchsorted(cdf, u.unsqueeze(1) * cdf[:, -1:], right=True).squeeze(1)
    return index.clamp_(max=logits.shape[1] - 1)
