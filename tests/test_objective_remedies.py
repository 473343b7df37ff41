"""The remedies that change the objective or the decoder's reach: Skip-VAE, the bag-of-words loss, the
minimum desired rate and the KL capacity, each against its formula on hand-built tensors and through the
real trainer on the tiny synthetic corpus."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import itertools

import pytest
import torch

from bench.config import ModelConfig, RunConfig
from bench.data.batching import collate
from bench.errors import ConfigError
from bench.kit import TINY, check_remedy
from bench.metrics import sample_posterior
from bench.models import build_model
from bench.models.bow import bag_nll
from bench.models.lstm_decoder import LSTMDecoder
from bench.single_run import plan_run, resolve
from bench.train import Trainer
from remedies import registry
from remedies.base import Horizon
from remedies.capacity import capacity_at, capacity_loss
from remedies.min_rate import MinRate

NAMES = ["skip-vae", "bow", "min-rate", "capacity"]


def trainer_for(spec: str, **settings: object) -> Trainer:
    run = resolve("synthetic", spec, 0, {**TINY, **settings})
    return Trainer(run.config, plan_run(run).corpus, run.remedy)


def parameters_of(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def moved(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


@pytest.mark.parametrize("module", ["bench.models.bow", "remedies.capacity", "remedies.min_rate"])
def test_the_worked_examples_in_the_docstrings_hold(module):
    assert doctest.testmod(importlib.import_module(module)).failed == 0


@pytest.mark.parametrize("spec", [*NAMES, "aggressive+bow", "aggressive+min-rate", "capacity+aggressive"])
def test_passes_the_conformance_kit(spec):
    check_remedy(spec)


@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_runs_and_logs_finite_terms(name):
    trainer = trainer_for(name)
    trainer.run_step(trainer.train_batches[0])
    row = trainer.curve[-1]
    assert torch.isfinite(torch.tensor([row["rec"], row["kl"]])).all()


def test_stored_configs_keep_their_run_ids():
    # The two model settings are added ones: at their earlier values they are not in config.json.
    model = RunConfig().to_dict()["model"]
    assert "dec_skip" not in model and "bow_hidden" not in model
    assert resolve("synthetic", "skip-vae", 0, TINY).config.to_dict()["model"]["dec_skip"] is True


@pytest.mark.parametrize("spec", ["bow(hidden=0)", "min-rate(rate=-1)", "min-rate(lr=0)",
                                  "capacity(target=-1)", "capacity(gamma=-0.5)", "capacity(epochs=-1)"])
def test_impossible_parameters_are_one_clear_error(spec):
    with pytest.raises(ConfigError, match=spec.split("(")[0]):
        registry.parse(spec)


class TestCapacity:
    """Prokhorov et al.'s kl_div_loss: gamma |batch-mean KL - C|, C = min(C, C t / n), n two epochs."""

    KL = torch.tensor([[1.0, 0.5], [3.0, 0.5], [0.0, 2.0]])  # sentence KLs 1.5, 3.5, 2.0: mean 7/3

    @pytest.mark.parametrize("capacity", [0.0, 1.0, 7 / 3, 5.0])
    def test_batch_mean_is_gamma_times_the_gap(self, capacity):
        out = capacity_loss(self.KL, capacity, gamma=2.0)
        assert out.shape == (3,)
        assert float(out.mean()) == pytest.approx(2.0 * abs(7 / 3 - capacity))

    @pytest.mark.parametrize(("capacity", "sign"), [(1.0, 1.0), (5.0, -1.0)])
    def test_gradient_pulls_the_mean_kl_towards_c(self, capacity, sign):
        kl = self.KL.clone().requires_grad_(True)
        capacity_loss(kl, capacity, gamma=2.0).mean().backward()
        # d/dKL_bd of 2 |mean_b sum_d KL_bd - C| = 2 sign(mean - C) / B for every entry
        assert torch.allclose(kl.grad, torch.full_like(kl, sign * 2.0 / 3))

    def test_c_rises_linearly_over_two_epochs_from_the_first_step(self):
        horizon = Horizon(steps_per_epoch=10, epochs=50)
        values = [capacity_at(step, horizon, target=15.0, epochs=2.0) for step in range(25)]
        assert values[0] == pytest.approx(15.0 / 20)  # their counter is 1 at the first batch
        assert values[9] == pytest.approx(7.5)
        assert values[19:] == [15.0] * 6
        assert capacity_at(0, horizon, target=15.0, epochs=0.0) == 15.0

    def test_the_trainer_loss_is_rec_plus_the_capacity_term_alone(self):
        trainer = trainer_for("capacity(target=4,gamma=3,epochs=0)")
        batch = trainer.train_batches[0]
        torch.manual_seed(0)
        loss, terms = trainer.loss_on(batch)
        expected = terms.rec.float() + 3.0 * (terms.kl.float().mean() - 4.0).abs()
        assert torch.allclose(loss, expected)

    @pytest.mark.parametrize("other", ["kl-annealing", "free-bits", "beta"])
    def test_refuses_a_second_kl_weight_or_kl_term(self, other):
        with pytest.raises(ConfigError, match="both take over"):
            registry.parse(f"capacity+{other}")

    def test_target_zero_is_the_plain_vae(self):
        kl = self.KL.clone().requires_grad_(True)
        remedy = registry.parse("capacity(target=0)")
        total = remedy.kl_term(kl) + remedy.extra_loss(kl, 0, Horizon(10, 5))
        assert torch.allclose(total.mean(), kl.sum(dim=-1).mean())


class TestMinRate:
    """Pelsmaeker & Aziz's fork of He et al.'s text.py: |w| (r - KL) per sentence, w by RMSprop ascent."""

    @staticmethod
    def kl_of_mean(value: float) -> torch.Tensor:
        return torch.tensor([[value / 2, value / 4], [value, value / 4]])  # sentence KLs 0.75 v, 1.25 v

    def test_the_term_is_the_multiplier_times_the_slack(self):
        remedy = MinRate(rate=5.0)
        kl = torch.tensor([[1.0, 2.0], [4.0, 3.0]])  # sentence KLs 3 and 7
        assert remedy.extra_loss(kl, 0, Horizon(10, 5)).tolist() == [0.5 * 2.0, 0.5 * -2.0]

    def test_the_multiplier_rises_while_kl_is_below_the_rate_and_never_goes_negative(self):
        remedy = MinRate(rate=5.0, lr=0.01)
        rising = [remedy.multiplier]
        for _ in range(50):
            remedy.after_update(self.kl_of_mean(1.0), encoder=True, decoder=True)
            rising.append(remedy.multiplier)
        assert all(b > a for a, b in itertools.pairwise(rising))
        falling = []
        for _ in range(400):
            remedy.after_update(self.kl_of_mean(9.0), encoder=True, decoder=True)
            falling.append(remedy.multiplier)
        assert min(falling) >= 0.0 and falling[-1] < 0.05  # driven to |w| ~ 0, oscillating about it

    def test_the_multiplier_follows_torch_rmsprop_on_the_negated_gradient(self):
        # Their loop: loss.mean() with |w| (r - KL) added, backward, grad negated, RMSprop(lr=0.001).step().
        weight = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        optimiser = torch.optim.RMSprop([weight], lr=0.001)
        remedy = MinRate(rate=5.0)
        for mean_kl in [0.5, 1.0, 4.0, 6.0, 9.0, 2.0, 7.0]:
            kl = self.kl_of_mean(mean_kl).double()
            optimiser.zero_grad()
            (weight.abs() * (5.0 - kl.sum(dim=-1))).mean().backward()
            weight.grad.neg_()
            optimiser.step()
            remedy.after_update(kl.float(), encoder=True, decoder=True)
            assert remedy.weight == pytest.approx(float(weight.detach()), rel=1e-6)

    def test_encoder_only_steps_leave_the_multiplier(self):
        remedy = MinRate()
        remedy.after_update(self.kl_of_mean(0.0), encoder=True, decoder=False)
        assert (remedy.weight, remedy.square_avg) == (0.5, 0.0)

    def test_under_aggressive_training_it_steps_once_per_step_with_the_decoder(self):
        trainer = trainer_for("aggressive(max_inner=5,check_every=5)+min-rate")
        trainer.run_step(trainer.train_batches[0])
        assert trainer.gradient_steps == 6  # five encoder-only steps, one decoder step
        remedy = next(part for part in trainer.remedy.parts() if part.name == "min-rate")
        once = MinRate()  # one ascent step, on the KL of the decoder's step (the last update)
        once.after_update(trainer.last_terms.kl_per_dim.detach().float(), encoder=False, decoder=True)
        assert remedy.weight != 0.5 and (remedy.weight, remedy.square_avg) == (once.weight, once.square_avg)

    def test_the_trainer_adds_the_term_outside_the_kl_weight(self):
        trainer = trainer_for("min-rate+kl-annealing(start=0.1)")
        batch = trainer.train_batches[0]
        trainer.kl_weight_now = 0.1
        torch.manual_seed(0)
        loss, terms = trainer.loss_on(batch)
        kl = terms.kl.float()
        assert torch.allclose(loss, terms.rec.float() + 0.1 * kl + 0.5 * (5.0 - kl))


class TestSkipVAE:
    """Dieng et al.'s text decoder: logits from [dropout(h_t); z] (yoonkim/skip-vae, `skip == 1`)."""

    @staticmethod
    def decoder(skip: bool) -> LSTMDecoder:
        cfg = ModelConfig(nz=3, emb=4, dec_hidden=5, dropout_in=0.0, dropout_out=0.0, dec_skip=skip)
        torch.manual_seed(0)
        decoder = LSTMDecoder(11, cfg)
        with torch.no_grad():  # the recurrence ignores z: what is left of z is the skip path
            decoder.lstm.weight_ih_l0[:, cfg.emb:] = 0.0
            decoder.z_to_c.weight.zero_()
        return decoder

    def test_logits_depend_on_z_at_every_position_through_the_skip_path(self):
        inputs = torch.tensor([[1, 5, 6, 7, 8, 9]])
        z1, z2 = torch.randn(1, 1, 3), torch.randn(1, 1, 3)
        skip = self.decoder(skip=True)
        change = skip(inputs, z1) - skip(inputs, z2)  # [1, T, V]
        direct = (z1 - z2).reshape(1, 3) @ skip.out.weight[:, 5:].T  # W_z (z1 - z2), the same at every t
        assert torch.allclose(change, direct.expand_as(change), atol=1e-6)
        assert (change.abs().amax(dim=-1) > 0).all()
        plain = self.decoder(skip=False)
        assert torch.equal(plain(inputs, z1), plain(inputs, z2))

    def test_the_remedy_turns_it_on_and_needs_the_lstm_decoder(self):
        trainer = trainer_for("skip-vae")
        assert trainer.model.decoder.out.in_features == TINY["model.dec_hidden"] + trainer.cfg.model.nz
        with pytest.raises(ConfigError, match="skip-vae: needs the LSTM decoder"):
            resolve("synthetic", "skip-vae+dilated-cnn", 0, TINY)
        with pytest.raises(ConfigError, match=r"model\.dec_skip"):
            build_model(20, ModelConfig(decoder="cnn", dec_skip=True))


class TestBagOfWords:
    """Zhao et al.'s bow_loss: the targets' NLL under softmax(bow_project(tanh(bow_fc1(z)))), summed."""

    def test_the_loss_is_the_bags_nll_under_the_heads_softmax(self):
        logits = torch.tensor([[0.0, 1.0, 2.0, 3.0], [3.0, 0.0, 0.0, 1.0]])
        targets = torch.tensor([[2, 2, 3, 0], [1, 3, 0, 0]])  # 0 is padding
        log_p = torch.log_softmax(logits, dim=-1)
        expected = [-(2 * log_p[0, 2] + log_p[0, 3]), -(log_p[1, 1] + log_p[1, 3])]
        assert torch.allclose(bag_nll(logits, targets), torch.stack(expected))

    def test_the_model_scores_the_bag_of_the_z_the_decoder_reads(self):
        model = build_model(20, ModelConfig(nz=3, emb=4, enc_hidden=5, dec_hidden=5, bow_hidden=7)).eval()
        batch = collate([[5, 6, 6, 7], [8, 9]], [0, 1])
        terms = model.loss_terms(batch, generator=torch.Generator().manual_seed(4))
        z = sample_posterior(terms.mu, terms.logvar, 1, torch.Generator().manual_seed(4)).squeeze(1)
        hidden = torch.tanh(model.bow.hidden(z))
        assert torch.allclose(terms.aux, bag_nll(model.bow.out(hidden), batch.targets))
        assert model.bow is model.decoder.bow  # part of the decoder half

    def test_the_trainer_adds_it_to_the_elbo_unweighted(self):
        trainer = trainer_for("bow+kl-annealing")
        trainer.kl_weight_now = 0.25
        torch.manual_seed(0)
        loss, terms = trainer.loss_on(trainer.train_batches[0])
        assert torch.allclose(loss, terms.rec.float() + 0.25 * terms.kl.float() + terms.aux.float())

    def test_the_head_sits_in_the_decoder_half_so_an_encoder_only_step_leaves_it(self):
        trainer = trainer_for("aggressive+bow")
        head, batch = trainer.model.bow, trainer.train_batches[0]
        in_decoder = {id(p) for group in trainer.dec_opt.param_groups for p in group["params"]}
        in_encoder = {id(p) for group in trainer.enc_opt.param_groups for p in group["params"]}
        assert {id(p) for p in head.parameters()} <= in_decoder - in_encoder
        head_before, encoder_before = parameters_of(head), parameters_of(trainer.model.encoder)
        trainer.update(batch, encoder=True, decoder=False)
        assert not moved(head_before, head) and moved(encoder_before, trainer.model.encoder)
        trainer.update(batch, encoder=False, decoder=True)
        assert moved(head_before, head)

    def test_its_gradient_reaches_the_encoder_through_z(self):
        trainer = trainer_for("bow", **{"model.init": "pytorch"})
        batch = trainer.train_batches[0]
        encoder = trainer.model.encoder
        torch.manual_seed(0)
        trainer.model.zero_grad()
        _, terms = trainer.loss_on(batch)
        terms.aux.mean().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())

    def test_the_remedy_builds_the_head_with_zhaos_width(self):
        trainer = trainer_for("bow")
        assert dataclasses.asdict(trainer.cfg.model)["bow_hidden"] == 400
        assert trainer.model.bow.hidden.out_features == 400
        assert trainer.model.bow.out.out_features == len(trainer.corpus.vocab)
