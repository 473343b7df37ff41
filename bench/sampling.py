"""Sentences from a trained sentence VAE: prior samples, reconstructions, homotopies.

Decoding re-runs the decoder on the growing prefix at every step instead of
carrying a recurrent state, so one loop serves every causal decoder (LSTM
and dilated CNN alike) through the same `decoder(inputs, z)` call that
training uses. Sentences are short, so the quadratic cost does not matter.

Qualitative checks from Bowman et al. 2016: a collapsed model gives the same
sentence for every z; a model that uses z reconstructs its input and moves
smoothly between two sentences along the line between their codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from bench import store
from bench.config import RunConfig
from bench.data.batching import collate
from bench.data.datasets import cached_corpus
from bench.data.vocab import BOS, EOS, PAD, Vocab
from bench.errors import ConfigError
from bench.models import SentenceVAE, build_model


@dataclass
class LoadedRun:
    """A stored run's model (eval mode), its vocabulary and config."""

    model: SentenceVAE
    vocab: Vocab
    cfg: RunConfig
    max_words: int  # the longest training sentence: decoding stops there at the latest


def load_run(run_dir: Path, data_dir: str | None = None) -> LoadedRun:
    """Rebuild the model of `run_dir` from config.json and model.pt, with the dataset's vocabulary.

    The vocabulary is rebuilt from the data (`load_corpus`), which is
    deterministic (and cached per process); a model.pt that does not fit it means the data changed.
    """
    run_dir = Path(run_dir)
    store.require_run_folder(run_dir)
    if not (run_dir / store.MODEL).exists():
        status = store.run_status(run_dir) or "not finished"
        raise ConfigError(f"{run_dir} has no {store.MODEL} (run status: {status}); pick a finished run")
    cfg = RunConfig.from_dict(store.read_json(run_dir / store.CONFIG))
    corpus = cached_corpus(cfg.data, data_dir)
    model = build_model(len(corpus.vocab), cfg.model)
    try:
        model.load_state_dict(store.load_torch(run_dir / store.MODEL))
    except RuntimeError as exc:
        raise ConfigError(
            f"{run_dir / store.MODEL} does not fit the {cfg.data.name} vocabulary of {len(corpus.vocab)} "
            f"words rebuilt from the data: the data changed since training ({str(exc).splitlines()[0]})"
        ) from None
    model.eval()
    return LoadedRun(model, corpus.vocab, cfg, max(len(s) for s in corpus.splits["train"]))


@torch.inference_mode()
def decode(
    model: SentenceVAE,
    z: Tensor,
    max_words: int,
    *,
    greedy: bool = True,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Token ids (no `<s>`, no `</s>`) decoded from each row of z [N, nz].

    Greedy takes the argmax at each step; otherwise the next token is drawn
    from softmax(logits / temperature) with `generator`. `<pad>` and `<s>` are
    never emitted. A sentence ends at `</s>` or after `max_words` words.
    """
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    rows = z.shape[0]
    tokens = torch.full((rows, 1), BOS, dtype=torch.long)
    done = torch.zeros(rows, dtype=torch.bool)
    for _ in range(max_words):
        logits = model.decoder(tokens, z.unsqueeze(1))[:, -1].float()  # [N, V]
        logits[:, [PAD, BOS]] = -torch.inf
        if greedy:
            chosen = logits.argmax(dim=-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            chosen = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        chosen = torch.where(done, PAD, chosen)  # finished rows only pad (zero embedding, causal: no effect)
        tokens = torch.cat([tokens, chosen.unsqueeze(1)], dim=1)
        done |= chosen == EOS
        if bool(done.all()):
            break
    sentences = []
    for row in tokens[:, 1:].tolist():
        words = row[: row.index(EOS)] if EOS in row else row
        sentences.append([token for token in words if token != PAD])
    return sentences


def prior_codes(model: SentenceVAE, count: int, generator: torch.Generator) -> Tensor:
    """z ~ p(z), the model's prior (`model.family`: N(0, I), or uniform on the vMF's sphere), [count, nz]."""
    return model.family.sample_prior(count, model.nz, generator)


@torch.inference_mode()
def encode_sentences(model: SentenceVAE, vocab: Vocab, sentences: list[str]) -> tuple[Tensor, list[int]]:
    """Encoder means E_q[z|x] [N, nz] of whitespace-tokenised sentences, and each one's unknown-word count."""
    words = [sentence.split() for sentence in sentences]
    if any(not sentence for sentence in words):
        raise ConfigError("cannot encode an empty sentence: give at least one word")
    ids = [vocab.encode(sentence) for sentence in words]
    unknown = [sum(word not in vocab.stoi for word in sentence) for sentence in words]
    mu, _ = model.encode(collate(ids, list(range(len(ids)))))
    return mu.float(), unknown


def homotopy(start: Tensor, end: Tensor, steps: int) -> Tensor:
    """Bowman et al.'s homotopy: z_t = (1 - t) start + t end at `steps` evenly spaced t in [0, 1]."""
    if steps < 2:
        raise ConfigError(f"an interpolation needs at least 2 steps (both ends), got {steps}")
    t = torch.linspace(0.0, 1.0, steps).unsqueeze(1)
    return (1 - t) * start.unsqueeze(0) + t * end.unsqueeze(0)


def to_text(vocab: Vocab, ids: list[int]) -> str:
    return " ".join(vocab.decode(ids)) if ids else "(empty: </s> first)"
