"""Corpora, vocabulary, the synthetic generator and batching.

`load_corpus(cfg.data)` is the one entry point the rest of the harness needs;
`find_dataset` says what a `--dataset` value names (its `DatasetSpec`);
`make_batches` turns a split into padded, masked batches.
"""

from bench.data.batching import Batch, make_batches
from bench.data.builtin import resolve_data_dir
from bench.data.cache import fetch, resolve_cache_dir
from bench.data.corpus import Corpus, Text, text_loader
from bench.data.datasets import (
    dataset_names,
    describe_datasets,
    find_dataset,
    labelled_datasets,
    load_corpus,
)
from bench.data.readers import read_labelled, read_sentences
from bench.data.spec import DatasetSpec, Sizes
from bench.data.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "UNK",
    "Batch",
    "Corpus",
    "DatasetSpec",
    "Sizes",
    "Text",
    "Vocab",
    "dataset_names",
    "describe_datasets",
    "fetch",
    "find_dataset",
    "labelled_datasets",
    "load_corpus",
    "make_batches",
    "read_labelled",
    "read_sentences",
    "resolve_cache_dir",
    "resolve_data_dir",
    "text_loader",
]
