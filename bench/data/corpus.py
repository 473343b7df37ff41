"""From words to a corpus ready for batching, the same way for every dataset.

Every corpus goes the same way: read words per split, drop sentences longer
than `data.max_len` (dropped, not truncated, as He et al. do), build the
vocabulary from what is left of train, and encode. A corpus that has only
some splits (one file, a Hugging Face dataset without a test split) gets the
missing ones cut from train by a shuffle seeded with `data.split_seed`: the
split yelp-short uses. What was read (paths, sha256, split rule, drop counts)
is returned in `Corpus.source` so that a run records exactly which data it saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bench.data.readers import read_labelled, read_sentences
from bench.data.vocab import Vocab
from bench.errors import ConfigError
from bench.store import file_sha256

if TYPE_CHECKING:
    from bench.settings import DataConfig

SPLITS = ("train", "valid", "test")
# What a corpus of your own may call each split (a file name, a Hugging Face split), first choice first.
SPLIT_NAMES = {"train": ("train",), "valid": ("validation", "valid", "dev"), "test": ("test",)}


@dataclass(eq=False)
class Corpus:
    """A dataset ready for batching: ids without specials, per split.

    Compared and hashed by identity: `cached_corpus` hands out one object per
    data config, so caches of what is derived from a corpus can key on it.
    """

    name: str
    vocab: Vocab
    splits: dict[str, list[list[int]]]
    labels: dict[str, list[int]] | None = None
    latents: dict[str, torch.Tensor] | None = None
    source: dict[str, str] = field(default_factory=dict)


@dataclass
class Text:
    """A corpus as read, before the length cap: words per split, a label per sentence if any.

    `words` must hold "train"; "valid" and "test" may be missing, and are then
    cut from train (`complete_splits`). `source` says what was read, for
    metrics.json: a plugin should name its files or generator here.
    """

    words: dict[str, list[list[str]]]
    labels: dict[str, list[int]] | None = None
    source: dict[str, str] = field(default_factory=dict)


TextReader = Callable[["DataConfig", "str | None"], Text]
Loader = Callable[["DataConfig", "str | None", "str | None"], Corpus]


def text_loader(read: TextReader) -> Loader:
    """A dataset loader from a function that reads words: `read(cfg.data, data_dir) -> Text`.

    The harness does the rest (missing splits, length cap, vocabulary,
    encoding) as for every built-in corpus, so a plugin or a user corpus
    cannot differ from them in anything but its words.
    """

    def load(cfg: DataConfig, data_dir: str | None, cache_dir: str | None) -> Corpus:
        return assemble(cfg, complete_splits(read(cfg, data_dir), cfg.split_seed))

    return load


# ------------------------------------------------------------------ splitting


def split_bounds(n: int) -> list[tuple[int, int]]:
    """80/10/10 cut points: train and valid rounded down, test takes the rest."""
    n_train, n_valid = n * 8 // 10, n // 10
    return [(0, n_train), (n_train, n_train + n_valid), (n_train + n_valid, n)]


def seeded_order(n: int, seed: int) -> list[int]:
    """The seeded shuffle of `n` sentences that every corpus without a fixed split is cut from."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def order_sha256(order: Sequence[int]) -> str:
    """A fingerprint of a shuffle, for the record: equal fingerprints, equal splits."""
    return hashlib.sha256(",".join(map(str, order)).encode()).hexdigest()


def complete_splits(text: Text, seed: int) -> Text:
    """`text` with valid and test: a missing one is cut from train after the seeded shuffle.

    Both missing: train, valid and test are 80/10/10 of the shuffled train
    (the yelp-short split). One missing: it takes the last tenth of the
    shuffled train, which keeps the rest.
    """
    if "train" not in text.words or not set(text.words) <= set(SPLITS):
        raise ConfigError(
            f"a corpus has the splits train and optionally valid and test, got {', '.join(text.words)}"
        )
    missing = [split for split in SPLITS if split not in text.words]
    if not missing:
        return text
    train = text.words["train"]
    order = seeded_order(len(train), seed)
    if len(missing) == 2:
        parts = dict(zip(SPLITS, (order[a:b] for a, b in split_bounds(len(order))), strict=True))
    else:
        cut = len(order) - len(order) // 10
        parts = {"train": order[:cut], missing[0]: order[cut:]}
    for split, indices in parts.items():
        if not indices:
            raise ConfigError(
                f"the train split has {len(train)} sentences: too few to cut a {split} split from "
                "(a tenth rounds down to none); give more sentences or a file per split"
            )
    words = {**text.words, **{split: [train[i] for i in indices] for split, indices in parts.items()}}
    labels = None
    if text.labels is not None:
        given = text.labels["train"]
        labels = {**text.labels, **{split: [given[i] for i in indices] for split, indices in parts.items()}}
    cut_from = (f"{', '.join(missing)} cut from train: torch.randperm(generator seed {seed} = "
                f"data.split_seed) over its {len(train)} sentences")
    sizes = "/".join(str(len(words[split])) for split in SPLITS)
    source = {**text.source, "split": f"{cut_from}; train/valid/test -> {sizes}",
              "split_sha256": order_sha256(order)}
    return Text(words, labels, source)


def check_unchanged(digests: dict[str, str], recorded: dict[str, str], what: dict[str, str]) -> None:
    """Refuse data whose sha256 differs from what a run recorded (`what` names each split's data):
    the vocabulary and splits of the stored run would silently differ."""
    for split, digest in recorded.items():
        if digests.get(split) != digest:
            raise ConfigError(
                f"{what.get(split, split)} changed since the run was configured (sha256 "
                f"{str(digests.get(split))[:12]}…, recorded {digest[:12]}…): restore it, or train a new "
                "run on it (changed data is a new run id)"
            )


# ------------------------------------------------------------------ assembling


def kept_indices(cfg: DataConfig, split: str, sentences: Sequence[Sequence]) -> tuple[list[int], int]:
    """Indices of the sentences kept (at most `max_len` words; train: the first `train_limit`)
    and how many the length cap dropped; none left is an error."""
    kept = [i for i, words in enumerate(sentences) if len(words) <= cfg.max_len]
    if not kept:
        shortest = min((len(words) for words in sentences), default=0)
        raise ConfigError(
            f"{cfg.name}: no {split} sentence has at most data.max_len={cfg.max_len} words "
            f"(the shortest has {shortest}); raise it, e.g. --set data.max_len={shortest}"
        )
    dropped = len(sentences) - len(kept)
    if split == "train" and cfg.train_limit:
        kept = kept[: cfg.train_limit]
    return kept, dropped


def assemble(cfg: DataConfig, text: Text) -> Corpus:
    """Length cap per split, train limit, vocabulary from the kept train, encode; labels follow."""
    kept, dropped = {}, {}
    for split in SPLITS:
        kept[split], dropped[split] = kept_indices(cfg, split, text.words[split])
    words = {split: [text.words[split][i] for i in kept[split]] for split in SPLITS}
    labels = text.labels
    if labels is not None:
        labels = {split: [labels[split][i] for i in kept[split]] for split in SPLITS}
    vocab = Vocab.build(words["train"], cfg.vocab_size)
    splits = {split: [vocab.encode(s) for s in words[split]] for split in SPLITS}
    record = {**text.source, **counts(splits, dropped), "vocab_size": str(len(vocab))}
    return Corpus(cfg.name, vocab, splits, labels=labels, source=record)


def counts(splits: dict[str, list], dropped: dict[str, int]) -> dict[str, str]:
    """Sentences kept and dropped per split, for the record."""
    return {
        "sentences": ", ".join(f"{split} {len(splits[split])}" for split in SPLITS),
        "dropped_over_max_len": ", ".join(f"{split} {dropped[split]}" for split in SPLITS),
    }


def read_text(files: dict[str, Path], labelled: bool, origin: str) -> Text:
    """The words (and labels) of one file per split, each distinct file read once (ptb-small reads
    one file as valid and test), with the files' paths and sha256 for the record."""
    if labelled:
        pairs = {path: read_labelled(path) for path in dict.fromkeys(files.values())}
        labels = {split: pairs[path][0] for split, path in files.items()}
        words = {split: pairs[path][1] for split, path in files.items()}
    else:
        labels = None
        sentences = {path: read_sentences(path) for path in dict.fromkeys(files.values())}
        words = {split: sentences[path] for split, path in files.items()}
    return Text(words, labels, {"origin": origin, **file_record(files)})


def file_record(files: dict[str, Path]) -> dict[str, str]:
    """Path and sha256 of each named file, for metrics.json (the report compares them)."""
    record: dict[str, str] = {}
    for split, path in files.items():
        record[f"{split}_path"] = str(path)
        record[f"{split}_sha256"] = file_sha256(path)
    return record
