"""The corpus's own tests: what it generates, and that the harness loads it as it loads its own.

They run before `pip install` as well: the spec is called directly, as the
entry point would hand it to collapse-bench.
"""

from itertools import pairwise

from collapse_bench_example_plugin.counting import COUNTING, WORDS, read_counting

from bench.config import DataConfig


def test_every_sentence_counts_in_the_direction_of_its_label():
    text = read_counting(DataConfig(name="counting"), None)
    for words, label in zip(text.words["train"], text.labels["train"], strict=True):
        positions = [WORDS.index(word) for word in words]
        steps = {b - a for a, b in pairwise(positions)}
        assert steps == ({1} if label else {-1})


def test_the_same_split_seed_gives_the_same_sentences():
    one, again = (read_counting(DataConfig(name="counting", split_seed=3), None) for _ in range(2))
    other = read_counting(DataConfig(name="counting", split_seed=4), None)
    assert one.words == again.words and one.words != other.words


def test_the_harness_cuts_it_80_10_10_with_the_labels():
    corpus = COUNTING.load(DataConfig(name="counting"), None, None)
    expected = {"train": 1600, "valid": 200, "test": 200}
    assert {split: len(ids) for split, ids in corpus.splits.items()} == expected
    assert {split: len(labels) for split, labels in corpus.labels.items()} == expected
    assert len(corpus.vocab) == 4 + len(WORDS)
