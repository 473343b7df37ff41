"""Batching: every sentence once, `<s> w </s>` framing, padding masked and never counted."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.data import BOS, EOS, PAD, make_batches


@pytest.fixture
def sentences() -> list[list[int]]:
    """Mixed lengths 1..9 with ids >= 4, so no word collides with a special."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 10, (53,), generator=g).tolist()
    return [torch.randint(4, 30, (n,), generator=g).tolist() for n in lengths]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_every_sentence_appears_exactly_once(sentences):
    batches = make_batches(sentences, batch_size=8)
    seen = sorted(i for batch in batches for i in batch.index.tolist())
    assert seen == list(range(len(sentences)))
    assert all(len(batch) <= 8 for batch in batches)
    assert len(batches) == -(-len(sentences) // 8)


def test_rows_are_the_sentence_framed_by_bos_and_eos(sentences):
    for batch in make_batches(sentences, batch_size=8):
        for row, i in enumerate(batch.index.tolist()):
            n = len(sentences[i])
            assert batch.tokens[row, : n + 2].tolist() == [BOS, *sentences[i], EOS]
            assert (batch.tokens[row, n + 2 :] == PAD).all()


def test_lengths_count_words_plus_end_of_sentence(sentences):
    for batch in make_batches(sentences, batch_size=8):
        expected = [len(sentences[i]) + 1 for i in batch.index.tolist()]
        assert batch.lengths.tolist() == expected


def test_inputs_and_targets_are_shifted_by_one(sentences):
    batch = make_batches(sentences, batch_size=8)[-1]
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    assert (batch.inputs[:, 0] == BOS).all()


def test_padding_is_masked_and_not_counted(sentences):
    batches = make_batches(sentences, batch_size=8)
    assert any((batch.tokens == PAD).any() for batch in batches)  # the test needs some padding
    for batch in batches:
        assert torch.equal(batch.mask.sum(dim=1), batch.lengths)
        assert (batch.targets[~batch.mask] == PAD).all()
        assert (batch.targets[batch.mask] != PAD).all()
    assert sum(batch.n_words for batch in batches) == sum(len(s) + 1 for s in sentences)


def test_end_of_sentence_is_a_counted_target(sentences):
    for batch in make_batches(sentences, batch_size=8):
        assert int((batch.targets == EOS).sum()) == len(batch)
        assert int((batch.targets[batch.mask] == EOS).sum()) == len(batch)


def test_unshuffled_batches_run_from_short_to_long(sentences):
    longest = [int(batch.lengths.max()) for batch in make_batches(sentences, batch_size=8)]
    assert longest == sorted(longest)


def test_shuffle_is_reproducible_with_a_seeded_generator(sentences):
    def order(seed: int) -> list[list[int]]:
        batches = make_batches(sentences, 8, shuffle=True, generator=seeded(seed))
        return [batch.index.tolist() for batch in batches]

    assert order(0) == order(0)
    assert order(0) != order(1)
    assert sorted(map(tuple, order(0))) == sorted(
        tuple(batch.index.tolist()) for batch in make_batches(sentences, 8)
    )


def test_by_length_batches_hold_one_length_each_and_every_sentence_once(sentences):
    batches = make_batches(sentences, batch_size=8, by_length=True)
    seen = sorted(i for batch in batches for i in batch.index.tolist())
    assert seen == list(range(len(sentences)))
    assert all(len(batch) <= 8 and len(set(batch.lengths.tolist())) == 1 for batch in batches)
    assert not any((batch.tokens == PAD).any() for batch in batches)
    # He et al.'s loader: each length's sentences cut every 8, so ceil(count / 8) batches a length.
    counts = [sum(len(s) == n for s in sentences) for n in set(map(len, sentences))]
    assert len(batches) == sum(-(-count // 8) for count in counts) > len(make_batches(sentences, 8))


def test_a_trainer_cuts_its_training_batches_as_train_batching_says(sentences):
    from bench.single_run import plan_run, resolve
    from bench.train import Trainer

    tiny = {"data.synthetic_size": 200, "model.nz": 2, "model.emb": 8, "model.enc_hidden": 8,
            "model.dec_hidden": 8, "train.batch_size": 8}
    steps = {}
    for batching in ("padded", "by-length"):
        run = resolve("synthetic", "none", 0, {**tiny, "train.batching": batching})
        corpus = plan_run(run).corpus
        corpus = dataclasses.replace(corpus, splits={**corpus.splits, "train": sentences})
        trainer = Trainer(run.config, corpus, run.remedy)
        expected = make_batches(sentences, 8, by_length=batching == "by-length")
        assert [b.index.tolist() for b in trainer.train_batches] == [b.index.tolist() for b in expected]
        steps[batching] = trainer.horizon.steps_per_epoch
        trainer.run_epoch()
    assert steps["by-length"] > steps["padded"]


def test_the_stop_rules_mi_batches_are_the_validation_split_cut_as_training_batches_are(sentences):
    """He et al. take their per-batch MI over validation batches made like the training ones."""
    from bench.single_run import plan_run, resolve
    from bench.train import Trainer

    tiny = {"data.synthetic_size": 200, "model.nz": 2, "model.emb": 8, "model.enc_hidden": 8,
            "model.dec_hidden": 8, "train.batch_size": 8}
    for batching in ("padded", "by-length"):
        run = resolve("synthetic", "none", 0, {**tiny, "train.batching": batching})
        corpus = plan_run(run).corpus
        corpus = dataclasses.replace(corpus, splits={**corpus.splits, "valid": sentences})
        trainer = Trainer(run.config, corpus, run.remedy)
        # the posteriors come in the order of the encoding batches; cut them by the listed sizes
        in_order = torch.cat([batch.lengths for batch in trainer.valid_batches])
        lengths = in_order.split(trainer.valid_mi_batches)
        expected = make_batches(sentences, 8, by_length=batching == "by-length")
        assert [chunk.tolist() for chunk in lengths] == [batch.lengths.tolist() for batch in expected]
        trainer.run_epoch()  # the epoch's validation takes the estimate over those batches
