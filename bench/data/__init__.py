"""Corpora, vocabulary, the synthetic generator and batching.

`load_corpus(cfg.data)` is the one entry point the rest of the harness needs;
`make_batches` turns a split into padded, masked batches.
"""

from bench.data.batching import Batch, make_batches
from bench.data.cache import fetch, resolve_cache_dir
from bench.data.datasets import (
    DATASETS,
    Corpus,
    dataset_names,
    describe_datasets,
    labelled_datasets,
    load_corpus,
    resolve_data_dir,
)
from bench.data.readers import read_labelled, read_sentences
from bench.data.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = [
    "BOS",
    "DATASETS",
    "EOS",
    "PAD",
    "SPECIALS",
    "UNK",
    "Batch",
    "Corpus",
    "Vocab",
    "dataset_names",
    "describe_datasets",
    "fetch",
    "labelled_datasets",
    "load_corpus",
    "make_batches",
    "read_labelled",
    "read_sentences",
    "resolve_cache_dir",
    "resolve_data_dir",
]
