"""DU-VAE and delta-VAE: the posterior families their papers and code promise, on hand-built tensors and
tiny synthetic runs.

delta-VAE (Razavi et al. 2019; DG-VAEs' LSTM form): every unit's KL is at least delta, whatever the
encoder outputs. DU-VAE (Shen et al. 2021; SmilesDZgk/DU-VAE): BatchNorm keeps the batch's mean KL at
nz gamma^2 / 2 or more with a learnt scale, and variance dropout acts in training only, so evaluation
scores a fixed diagonal Gaussian.
"""

import math
import re

import pytest
import torch
from scipy.special import lambertw

from bench.config import ModelConfig, build_config
from bench.data.batching import collate
from bench.errors import ConfigError
from bench.evaluate import encode_all, split_batches
from bench.kit import TINY, check_remedy
from bench.metrics import gaussian_kl_per_dim
from bench.models import build_model
from bench.models.posterior import delta_posterior, floored_logvar, sigma_bounds
from bench.single_run import plan_run, resolve
from bench.train import Trainer
from remedies import registry
from remedies.base import Horizon

FLOOR = 1 / (2 * math.pi * math.e)  # DU-VAE's variance floor at alpha = 1
SENTENCES = [[5 + (3 * i + j) % 14 for j in range(3 + i % 5)] for i in range(24)]


def model_with(**changes: object) -> torch.nn.Module:
    cfg = ModelConfig(nz=4, emb=8, enc_hidden=10, dec_hidden=12, init="pytorch", **changes)
    torch.manual_seed(0)
    return build_model(20, cfg)


def batch():
    return collate(SENTENCES, list(range(len(SENTENCES))))


def trainer_for(spec: str) -> Trainer:
    run = resolve("synthetic", spec, 0, TINY)
    return Trainer(run.config, plan_run(run).corpus, run.remedy)


class TestDeltaVAE:
    @pytest.mark.parametrize("delta", [1e-3, 0.15, 1.0, 5.0, 50.0])
    def test_sigma_bounds_are_the_two_roots_of_the_unit_kl(self, delta):
        # ln v - v + 2 delta + 1 = 0  <=>  v = -W(-e^-(2 delta + 1)), branches 0 (below 1) and -1 (above).
        low, high = sigma_bounds(delta)
        argument = -math.exp(-(2 * delta + 1))
        assert low**2 == pytest.approx(-lambertw(argument, 0).real, rel=1e-9)
        assert high**2 == pytest.approx(-lambertw(argument, -1).real, rel=1e-9)
        for sigma in (low, high):
            assert 0.5 * (sigma**2 - math.log(sigma**2) - 1) == pytest.approx(delta, rel=1e-9)

    @pytest.mark.parametrize("delta", [1e-3, 0.15, 1.0, 5.0, 50.0])
    @pytest.mark.parametrize("scale", [0.1, 3.0, 100.0])
    def test_every_unit_keeps_at_least_delta_of_kl_for_any_encoder_output(self, delta, scale):
        generator = torch.Generator().manual_seed(int(delta * 1000 + scale))
        raw_mu, raw_logvar = (scale * torch.randn(2, 4096, 8, generator=generator)).unbind(0)
        mu, logvar = delta_posterior(raw_mu, raw_logvar, delta, sigma_bounds(delta))
        kl = gaussian_kl_per_dim(mu, logvar)
        assert torch.isfinite(kl).all() and (mu >= 0).all()
        assert float(kl.min()) >= delta - 1e-5 * (1 + delta)
        # The paper's construction: exactly delta, plus half the positive part of the raw mean.
        expected = delta + raw_mu.clamp_min(0) / 2
        assert torch.allclose(kl, expected, rtol=1e-4, atol=1e-4 * (1 + delta))

    def test_sigma_stays_within_the_bounds_with_the_sigmoid_floored_at_one_fiftieth(self):
        low, high = sigma_bounds(0.15)
        raw_logvar = torch.linspace(-200, 200, 4001).unsqueeze(1)
        _, logvar = delta_posterior(torch.zeros_like(raw_logvar), raw_logvar, 0.15, (low, high))
        sigma = (logvar / 2).exp()
        assert float(sigma.min()) == pytest.approx(low + (high - low) / 50, rel=1e-5)
        assert float(sigma.max()) == pytest.approx(high, rel=1e-5)

    def test_the_encoder_gives_the_floor_to_every_sentence_in_training_and_in_evaluation(self):
        model = model_with(delta_kl=0.15)
        for mode in (model.train, model.eval):
            mode()
            with torch.no_grad():
                mu, logvar = model.encode(batch())
            assert float(gaussian_kl_per_dim(mu, logvar).min()) >= 0.15 - 1e-5

    def test_one_training_step_keeps_the_committed_rate(self):
        trainer = trainer_for("delta-vae(delta=0.3)")
        assert trainer.cfg.model.delta_kl == 0.3 and trainer.cfg.model.init == "reference"  # DG-VAEs' init
        before = trainer.model.encoder.to_gaussian.weight.detach().clone()
        trainer.run_step(trainer.train_batches[0])
        assert trainer.last_terms is not None
        assert float(trainer.last_terms.kl_per_dim.detach().min()) >= 0.3 - 1e-5
        assert not torch.equal(trainer.model.encoder.to_gaussian.weight, before)


class TestDUVAE:
    def test_variance_floor_is_where_a_unit_has_zero_entropy(self):
        cfg = resolve("synthetic", "du-vae", 0, TINY).config
        assert 0.5 * math.log(2 * math.pi * math.e * cfg.model.var_floor) == pytest.approx(0.0, abs=1e-12)
        assert (cfg.model.bn_gamma, cfg.model.bn_scale, cfg.model.var_dropout) == (0.5, "rms", 0.2)
        assert cfg.model.init == "pytorch-encoder" and cfg.train.decay_patience == 5

    def test_kl_weight_warms_up_from_zero_over_ten_epochs(self):
        remedy = registry.parse("du-vae")
        span = Horizon(steps_per_epoch=7, epochs=50)
        assert remedy.kl_weight(0, span) == 0.0
        assert remedy.kl_weight(35, span) == pytest.approx(0.5)
        assert remedy.kl_weight(70, span) == remedy.kl_weight(500, span) == 1.0
        assert registry.parse("du-vae(warmup_epochs=0)").kl_weight(0, span) == 1.0

    def test_batch_kl_is_at_least_nz_gamma_squared_over_two_with_a_learnt_scale(self):
        gamma, nz = 0.5, 4
        model = model_with(bn_gamma=gamma, bn_scale="rms", var_floor=FLOOR, var_dropout=0.2).train()
        scale = model.encoder.bn.weight
        with torch.no_grad():  # as if the optimiser had moved the units' scales apart
            model.encoder.to_gaussian.weight[:nz].mul_(100)  # raw means spread far beyond BatchNorm's eps
            scale.copy_(torch.tensor([0.1, 2.0, 0.7, 1.3]))
            model.encoder.bn.bias.copy_(torch.tensor([0.3, -0.2, 0.0, 0.1]))
        mu, logvar = model.encode(batch())
        assert float(scale.detach().pow(2).mean().sqrt()) == pytest.approx(gamma, rel=1e-6)  # RMS gamma again
        kl = gaussian_kl_per_dim(mu, logvar).detach().sum(-1).mean()
        assert float(kl) >= nz * gamma**2 / 2 * (1 - 1e-3)
        # Each unit's batch second moment is its scale squared plus its shift squared (BatchNorm).
        second = mu.detach().pow(2).mean(0)
        assert torch.allclose(second, scale.detach() ** 2 + model.encoder.bn.bias.detach() ** 2, rtol=1e-3)

    def test_the_scale_learns_and_is_rescaled_after_each_step(self):
        trainer = trainer_for("du-vae(gamma=0.4)")
        scale = trainer.model.encoder.bn.weight
        assert scale.requires_grad and any(scale is p for group in trainer.enc_opt.param_groups
                                           for p in group["params"])
        trainer.run_step(trainer.train_batches[0])
        assert torch.isfinite(trainer.last_terms.kl.detach()).all()
        moved = scale.detach().clone()
        assert not torch.allclose(moved, torch.full_like(moved, 0.4))  # the optimiser moved it
        trainer.model.eval()
        with torch.no_grad():
            trainer.model.encode(trainer.train_batches[0])
        assert float(scale.detach().pow(2).mean().sqrt()) == pytest.approx(0.4, rel=1e-6)

    def test_variance_dropout_acts_in_training_only(self):
        raw = torch.randn(200, 50, generator=torch.Generator().manual_seed(3))
        evaluated = floored_logvar(raw, FLOOR, 0.2, training=False)
        assert torch.allclose(evaluated, torch.log(raw.exp() + FLOOR))
        torch.manual_seed(4)
        trained = floored_logvar(raw, FLOOR, 0.2, training=True)
        dropped = torch.isclose(trained, torch.full_like(trained, math.log(FLOOR)))
        assert float(dropped.double().mean()) == pytest.approx(0.2, abs=0.01)
        kept = torch.log(raw.exp() / 0.8 + FLOOR)  # the survivors scaled by 1 / (1 - p), as torch.dropout
        assert torch.allclose(trained[~dropped], kept[~dropped], atol=1e-6)

    def test_the_encoder_drops_variances_in_training_and_evaluation_sees_a_fixed_gaussian(self):
        model = model_with(bn_gamma=0.5, bn_scale="rms", var_floor=FLOOR, var_dropout=0.5).train()
        with torch.no_grad():
            first, second = model.encode(batch()), model.encode(batch())
        assert torch.equal(first[0], second[0]) and not torch.equal(first[1], second[1])
        assert float(first[1].min()) == pytest.approx(math.log(FLOOR), rel=1e-5)  # some at the floor
        model.eval()
        mu, logvar = encode_all(model, split_batches(SENTENCES, batch_size=5), torch.device("cpu"))
        again = encode_all(model, split_batches(SENTENCES, batch_size=24), torch.device("cpu"))
        # Running statistics, no dropout: a sentence's posterior depends neither on the draw nor on its
        # batch-mates, so the IW NLL, MI and AU score one fixed Gaussian per sentence.
        assert torch.allclose(mu, again[0], atol=1e-6) and torch.allclose(logvar, again[1], atol=1e-6)
        assert float(logvar.min()) > math.log(FLOOR)


@pytest.mark.parametrize("name", ["du-vae", "delta-vae"])
def test_each_remedy_passes_the_plugin_kit(name):
    check_remedy(name)


def test_runs_stored_before_keep_their_ids():
    # Ids computed before these settings existed: the new settings stay out of config.json at their
    # defaults, so no existing run gets a new id.
    assert build_config("synthetic", "none", 0, {}).run_id() == "8b74e1ad18a4"
    assert resolve("synthetic", "bn-vae", 0, {}).config.run_id() == "5bb8ece02e25"
    model = build_config("synthetic", "none", 0, {}).to_dict()["model"]
    assert not {"bn_scale", "var_floor", "var_dropout", "delta_kl"} & set(model)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"model.var_dropout": "1"}, "model.var_dropout must be in [0, 1), got 1.0"),
    ({"model.var_dropout": "0.2"}, "model.var_dropout needs model.var_floor > 0"),
    ({"model.bn_scale": "free"}, "model.bn_scale must be one of fixed, rms, got 'free'"),
    ({"model.delta_kl": "-1"}, "model.delta_kl must be >= 0, got -1.0"),
    ({"model.delta_kl": "0.1", "model.bn_gamma": "0.5"}, "model.delta_kl sets mu and sigma itself"),
])
def test_impossible_posterior_settings_are_one_clear_error(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config("synthetic", "none", 0, overrides)


@pytest.mark.parametrize(("spec", "message"), [
    ("du-vae(dropout=1)", "du-vae: dropout must be in [0, 1)"),
    ("du-vae(alpha=0)", "du-vae: alpha must be > 0"),
    ("delta-vae(delta=0)", "delta-vae: delta must be > 0"),
    ("delta-vae+bn-vae", "model.delta_kl sets mu and sigma itself"),
])
def test_bad_remedy_parameters_are_one_clear_error(spec, message):
    with pytest.raises(ConfigError) as err:
        resolve("synthetic", spec, 0, TINY)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_du_vae_floor_and_dropout_wait_for_the_full_kl_weight():
    """Their code applies the floor and variance dropout only once the KL weight is 1 (training and
    validation alike); before that the posterior is the BatchNorm one alone."""
    gated = model_with(bn_gamma=0.5, bn_scale="rms", var_floor=FLOOR, var_dropout=0.2, var_gate=True).eval()
    plain = model_with(bn_gamma=0.5, bn_scale="rms").eval()
    gated.follow_kl_weight(0.3)
    with torch.no_grad():
        assert torch.equal(gated.encode(batch())[1], plain.encode(batch())[1])
        gated.follow_kl_weight(1.0)
        floored = gated.encode(batch())[1]
    assert bool((floored >= math.log(FLOOR) - 1e-6).all())
    assert not torch.equal(floored, plain.encode(batch())[1])


def test_du_vae_trains_only_on_batches_of_16_or_more_and_the_trainer_tells_the_gate():
    run = resolve("synthetic", "du-vae(warmup_epochs=1)", 0, {**TINY, "data.synthetic_size": 210,
                                                              "train.batch_size": 32})
    trainer = Trainer(run.config, plan_run(run).corpus, run.remedy)
    assert run.config.train.min_batch == 16 and trainer.train_batches
    assert min(len(batch) for batch in trainer.train_batches) >= 16
    plain = resolve("synthetic", "none", 0, {**TINY, "data.synthetic_size": 210, "train.batch_size": 32})
    assert min(len(batch) for batch in Trainer(plain.config, plan_run(plain).corpus, plain.remedy)
               .train_batches) < 16  # the filter is DU-VAE's, not every run's
    trainer.run_step(trainer.train_batches[0])
    assert trainer.kl_weight_now < 1 and not trainer.model.encoder.full_kl_weight
