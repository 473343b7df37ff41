"""Conformance of every registered remedy (the plugin kit's checks, sklearn's check_estimator idea),
then each one's own rules.

Each check is its own test per remedy, so a plugin that breaks one rule
shows which.
"""

import dataclasses
import doctest

import pytest
import torch

from bench.config import RunConfig
from bench.data.batching import collate
from bench.data.vocab import BOS, PAD, UNK
from bench.kit import CHECKS, TINY, ScriptedTrainer, check_id
from bench.single_run import plan_run, resolve
from bench.train import Trainer
from remedies import registry
from remedies.word_dropout import drop_words


def trainer_for(spec: str, **settings: object) -> Trainer:
    """A trainer of `spec` on the tiny corpus, as a run would build it."""
    run = resolve("synthetic", spec, 0, {**TINY, **settings})
    return Trainer(run.config, plan_run(run).corpus, run.remedy)


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
@pytest.mark.parametrize("name", registry.names())
def test_remedy_conforms(name, check):
    check(name)


class TestWordDropout:
    """Bowman et al.: inputs (never targets) become <unk> with prob. 1 - keep, in training only."""

    @staticmethod
    def batch():
        generator = torch.Generator().manual_seed(0)
        sentences = [torch.randint(4, 50, (n,), generator=generator).tolist() for n in range(3, 40)]
        return collate(sentences, list(range(len(sentences))))

    @pytest.mark.parametrize("keep", [0.0, 0.25, 0.5, 0.75, 1.0])
    def test_rate(self, keep):
        inputs = self.batch().inputs.repeat(20, 1)
        dropped = drop_words(inputs, keep, UNK, torch.Generator().manual_seed(1))
        words = (inputs != BOS) & (inputs != PAD)
        rate = float((dropped[words] == UNK).double().mean())
        assert rate == pytest.approx(1 - keep, abs=0.02)
        assert torch.equal(dropped[~words], inputs[~words])

    def test_seeded(self):
        inputs = self.batch().inputs
        first = drop_words(inputs, 0.5, UNK, torch.Generator().manual_seed(3))
        assert torch.equal(first, drop_words(inputs, 0.5, UNK, torch.Generator().manual_seed(3)))

    def test_training_loss_sees_dropped_inputs_and_true_targets(self, monkeypatch):
        trainer = trainer_for("word-dropout(keep=0)")
        batch = trainer.train_batches[0]
        tokens = batch.tokens.clone()
        seen = {}
        original = trainer.model.loss_terms

        def spy(batch_arg, inputs=None, generator=None):
            seen["inputs"], seen["targets"] = inputs, batch_arg.targets.clone()
            return original(batch_arg, inputs=inputs, generator=generator)

        monkeypatch.setattr(trainer.model, "loss_terms", spy)
        trainer.run_step(batch)
        assert torch.equal(seen["targets"], tokens[:, 1:])
        assert torch.all(seen["inputs"][:, 1:][tokens[:, 1:-1] != PAD] == UNK)
        assert torch.all(seen["inputs"][:, 0] == BOS)

    def test_evaluation_is_unaffected(self):
        dropping = trainer_for("word-dropout(keep=0)")
        plain = Trainer(dropping.cfg, dropping.corpus, registry.parse("none"))
        plain.model.load_state_dict(dropping.model.state_dict())
        torch.manual_seed(0)  # the validation ELBO draws one z per sentence
        with_dropout = dropping.evaluate_split()
        torch.manual_seed(0)
        assert with_dropout == plain.evaluate_split()
        batch = dropping.train_batches[0]
        torch.manual_seed(0)
        dropped_loss, _ = dropping.loss_on(batch)
        torch.manual_seed(0)
        plain_loss, _ = plain.loss_on(batch)
        assert not torch.equal(dropped_loss, plain_loss)

    def test_keep_one_draws_nothing(self):
        remedy = registry.parse("word-dropout(keep=1)")
        generator = torch.Generator().manual_seed(0)
        state = generator.get_state()
        inputs = self.batch().inputs
        assert remedy.decoder_inputs(inputs, UNK, generator) is inputs
        assert torch.equal(generator.get_state(), state)


class TestAggressive:
    """He et al. 2019, Algorithm 1 as in their code."""

    def test_inner_loop_stops_when_a_window_gets_worse(self):
        # windows of 15 steps: mean 10, then 9 (better), then 9.5 (worse): stop after 45
        trainer = ScriptedTrainer([10.0] * 15 + [9.0] * 15 + [9.5] * 15 + [1.0] * 100)
        remedy = registry.parse("aggressive")
        assert remedy.train_step(trainer, trainer.batch) is True
        assert trainer.calls == [(True, False)] * 45 + [(False, True)]
        assert remedy.inner_steps == [45]

    def test_inner_loop_is_capped(self):
        trainer = ScriptedTrainer([100.0 - i for i in range(200)])
        remedy = registry.parse("aggressive")
        remedy.train_step(trainer, trainer.batch)
        assert remedy.inner_steps == [99]
        assert trainer.calls[-1] == (False, True) and len(trainer.calls) == 100

    def test_mode_ends_for_good_when_validation_mi_drops(self):
        remedy = registry.parse("aggressive")
        trainer = ScriptedTrainer([])
        for epoch, mi in enumerate([0.5, 0.8, 0.7, 2.0]):
            trainer.epoch = epoch
            remedy.on_epoch_end(trainer, {"mi_batch": mi, "mi": 0.0})
        assert remedy.active is False and remedy.stopped_after_epoch == 2
        assert remedy.train_step(trainer, trainer.batch) is False  # a plain step from now on
        assert trainer.calls == []

    def test_first_epoch_compares_with_zero_as_the_reference_does(self):
        remedy = registry.parse("aggressive")
        trainer = ScriptedTrainer([])
        trainer.epoch = 0
        remedy.on_epoch_end(trainer, {"mi_batch": -0.01, "mi": 0.0})
        assert remedy.active is False

    def test_stop_rule_reads_the_estimate_asked_for(self):
        # He et al.'s per-batch estimate by default; the whole-set one on request.
        for stop_mi, stays in (("batch", False), ("whole", True)):
            remedy = registry.parse(f"aggressive(stop_mi={stop_mi})")
            trainer = ScriptedTrainer([])
            trainer.epoch = 0
            remedy.on_epoch_end(trainer, {"mi_batch": -0.05, "mi": 0.0})
            assert remedy.active is stays, stop_mi

    def test_min_epochs_defers_the_stop_rule(self):
        remedy = registry.parse("aggressive(min_epochs=3)")
        trainer = ScriptedTrainer([])
        for epoch, mi in enumerate([0.0, -0.1, 0.2, 0.1]):
            trainer.epoch = epoch
            remedy.on_epoch_end(trainer, {"mi_batch": mi, "mi": 0.0})
            assert remedy.active is (epoch < 3), epoch  # drops after epochs 1 and 2 are ignored
        assert remedy.stopped_after_epoch == 3


def test_dilated_cnn_sizes_and_receptive_field():
    from bench.models import build_model, cnn_decoder

    assert doctest.testmod(cnn_decoder).failed == 0

    expected = {"small": 15, "medium": 63, "large": 125, "very-large": 187}
    for size, field in expected.items():
        cfg = registry.parse(f"dilated-cnn(size={size})").configure(RunConfig())
        cfg.model.cnn_channels = 8
        assert build_model(30, cfg.model).decoder.receptive_field == field


def test_cnn_decoder_is_causal():
    from bench.config import ModelConfig
    from bench.models.cnn_decoder import DilatedCNNDecoder

    cfg = ModelConfig(nz=2, emb=8, cnn_channels=8, cnn_dilations=(1, 2), dropout_in=0.0,
                      dropout_out=0.0)
    torch.manual_seed(0)
    decoder = DilatedCNNDecoder(30, cfg)
    for param in decoder.parameters():
        torch.nn.init.normal_(param)
    inputs = torch.randint(4, 30, (2, 9))
    z = torch.randn(2, 3, 2)
    logits = decoder(inputs, z)
    assert logits.shape == (6, 9, 30)
    changed = inputs.clone()
    changed[:, 5] = 4 if int(inputs[0, 5]) != 4 else 5
    after = decoder(changed, z)
    assert torch.allclose(after[:, :5], logits[:, :5]) and not torch.allclose(after[:, 5:], logits[:, 5:])


def test_bn_vae_turns_on_the_encoder_batch_norm():
    bn = trainer_for("bn-vae(gamma=0.3)").model.encoder.bn
    assert bn is not None and torch.allclose(bn.weight, torch.full_like(bn.weight, 0.3))
    assert not bn.weight.requires_grad


def test_bn_vae_initialises_and_schedules_as_its_authors_code():
    # valdersoul/bn-vae: the encoder keeps PyTorch's init, the decoder gets U(-0.01, 0.01); patience 5.
    trainer = trainer_for("bn-vae")
    assert trainer.cfg.model.init == "pytorch-encoder" and trainer.cfg.train.decay_patience == 5
    assert trainer.model.encoder.lstm.weight_hh_l0.detach().abs().max() > 0.05
    assert trainer.model.decoder.lstm.weight_hh_l0.detach().abs().max() <= 0.01
    plain = resolve("synthetic", "bn-vae(authors_init=false)", 0, TINY)
    assert plain.config.model.init == "reference"
    chosen = resolve("synthetic", "bn-vae", 0, {**TINY, "model.init": "pytorch"})
    assert chosen.config.model.init == "pytorch"  # a scheme the user set is kept
    assert chosen.remedy_settings == {"model.bn_gamma": 0.5, "train.decay_patience": 5}


def test_bn_vae_skips_a_one_sentence_training_batch_as_its_authors_code():
    # 17 sentences in batches of 8 leave one alone; BatchNorm in training mode cannot take it.
    run = resolve("synthetic", "bn-vae", 0, TINY)
    plan = plan_run(run)
    corpus = dataclasses.replace(plan.corpus, splits={**plan.corpus.splits,
                                                      "train": plan.corpus.splits["train"][:17]})
    trainer = Trainer(run.config, corpus, run.remedy)
    assert [len(batch) for batch in trainer.train_batches] == [8, 8]
    trainer.run_epoch()  # with the lone sentence: "Expected more than 1 value per channel"


def test_pretrain_fb_pretrains_then_resets_the_decoder(monkeypatch):
    trainer = trainer_for("pretrain-fb(pretrain_epochs=2)")
    assert trainer.cfg.train.lr == 0.5
    weights, resets = [], []
    real_update = trainer.update

    def update(batch, **kwargs):
        weights.append(kwargs.get("kl_weight"))
        return real_update(batch, **kwargs)

    monkeypatch.setattr(trainer, "update", update)
    monkeypatch.setattr(trainer, "reset_decoder", lambda: resets.append(len(weights)))
    encoder_before = [p.detach().clone() for p in trainer.model.encoder.parameters()]
    trainer.remedy.before_training(trainer)
    assert weights == [0.0] * (2 * trainer.horizon.steps_per_epoch)
    assert resets == [len(weights)]
    encoder_after = trainer.model.encoder.parameters()
    assert any(not torch.equal(a, b) for a, b in zip(encoder_before, encoder_after, strict=True))
    assert trainer.step == 0  # the warm-up starts after pretraining
