"""Vocabulary with the four specials the reference uses.

Ids 0-3 are fixed (`<pad>`, `<s>`, `</s>`, `<unk>`) so batching, word
dropout and the models can name them without a vocabulary at hand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from bench.errors import ConfigError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


class Vocab:
    """A word <-> id map: the specials first, then words by training frequency."""

    def __init__(self, itos: list[str]) -> None:
        self.itos = list(itos)
        self.stoi = {word: i for i, word in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences: list[list[str]], max_size: int) -> Vocab:
        """Keep the `max_size - 4` most frequent words; ties go to the word seen first.

        Counting follows first appearance (`Counter` keeps insertion order and
        `most_common` sorts stably), so the same corpus always gives the same
        ids. A special appearing as text (PTB's literal `<unk>`) is not added
        twice: it maps to its fixed id.
        """
        if max_size < len(SPECIALS):
            raise ConfigError(
                f"vocabulary size must be >= {len(SPECIALS)} (the specials), got {max_size}"
            )
        counts = Counter(word for sentence in sentences for word in sentence)
        for special in SPECIALS:
            counts.pop(special, None)
        words = [word for word, _ in counts.most_common(max_size - len(SPECIALS))]
        return cls([*SPECIALS, *words])

    def encode(self, words: list[str]) -> list[int]:
        """Words to ids; a word outside the vocabulary becomes `<unk>`."""
        return [self.stoi.get(word, UNK) for word in words]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids (ints or a 1-D tensor) to words, specials included: the caller strips them."""
        return [self.itos[int(i)] for i in ids]

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def from_list(cls, itos: list[str]) -> Vocab:
        """Rebuild a saved vocabulary; the specials must sit at their fixed ids."""
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ConfigError(
                f"saved vocabulary must start with {', '.join(SPECIALS)}, "
                f"got {', '.join(itos[: len(SPECIALS)])}: the file is not a collapse-bench vocab"
            )
        if len(set(itos)) != len(itos):
            raise ConfigError("saved vocabulary lists a word twice: the file is corrupt")
        return cls(itos)
