"""Length-bucketed, padded, masked batches.

Sentences are sorted by length and cut into batches, so a batch is nearly
rectangular and one fused LSTM call; padding that remains is masked out of
the loss and of the word count (tokens + end-of-sentence, never padding).
`by_length` instead keeps every batch to sentences of one length, as He et
al.'s and Li et al.'s data loaders do: more, smaller batches an epoch, so
more steps (docs/fidelity.md measures what that changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

import torch
from torch import Tensor

from bench.data.vocab import BOS, EOS, PAD


@dataclass
class Batch:
    """`tokens` is `<s> w_1 .. w_n </s>` padded with PAD, shape [B, L].

    `lengths[b]` = n_b + 1: the number of predicted tokens of sentence b
    (its words plus `</s>`). `index[b]` is the sentence's position in its split.
    """

    tokens: Tensor
    lengths: Tensor
    index: Tensor

    @property
    def inputs(self) -> Tensor:
        """Decoder inputs: `<s> w_1 .. w_n` (and padding)."""
        return self.tokens[:, :-1]

    @property
    def targets(self) -> Tensor:
        """Decoder targets: `w_1 .. w_n </s>` (and padding)."""
        return self.tokens[:, 1:]

    @property
    def mask(self) -> Tensor:
        """True where a target is a real token, shape [B, L-1]."""
        return self.targets != PAD

    @property
    def n_words(self) -> int:
        return int(self.lengths.sum())

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.tokens.to(device), self.lengths.to(device), self.index.to(device))


def collate(sentences: list[list[int]], index: list[int]) -> Batch:
    """Pad `<s> s </s>` for each sentence into one Batch."""
    longest = max(len(s) for s in sentences)
    tokens = torch.full((len(sentences), longest + 2), PAD, dtype=torch.long)
    for row, sentence in enumerate(sentences):
        tokens[row, 0] = BOS
        tokens[row, 1 : len(sentence) + 1] = torch.tensor(sentence, dtype=torch.long)
        tokens[row, len(sentence) + 1] = EOS
    lengths = torch.tensor([len(s) + 1 for s in sentences], dtype=torch.long)
    return Batch(tokens, lengths, torch.tensor(index, dtype=torch.long))


def cut(sentences: list[list[int]], batch_size: int, by_length: bool = False) -> list[list[int]]:
    """The sentence indices of each batch, from shortest to longest sentences (a stable sort, so the
    order `split_batches` encodes a split in): every `batch_size` sentences, or with `by_length` every
    `batch_size` sentences of one length."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    groups = [order]
    if by_length:
        groups = [list(same) for _, same in groupby(order, key=lambda i: len(sentences[i]))]
    return [group[start : start + batch_size] for group in groups
            for start in range(0, len(group), batch_size)]


def batch_sizes(sentences: list[list[int]], batch_size: int, by_length: bool = False) -> list[int]:
    """How many sentences each batch of `cut` holds, in its order: the batches of He et al.'s per-batch
    MI over posteriors encoded in length-sorted order."""
    return [len(chunk) for chunk in cut(sentences, batch_size, by_length)]


def make_batches(
    sentences: list[list[int]],
    batch_size: int,
    *,
    by_length: bool = False,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> list[Batch]:
    """Sort by length, cut into batches of `batch_size`; shuffle the batch order if asked.

    `by_length`: cut each run of equal lengths on its own, so no batch mixes
    two lengths (the last batch of a length may be smaller). The same
    sentences and batch size always give the same batches, so a fixed
    generator makes an epoch reproducible.
    """
    chunks = cut(sentences, batch_size, by_length)
    batches = [collate([sentences[i] for i in chunk], chunk) for chunk in chunks]
    if shuffle:
        perm = torch.randperm(len(batches), generator=generator).tolist()
        batches = [batches[i] for i in perm]
    return batches
