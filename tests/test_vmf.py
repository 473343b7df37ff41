"""The vMF posterior of Xu & Durrett 2018 (bench/vmf.py, remedy `vmf`): closed forms against scipy and
quadrature, Wood's sampler against the mean resultant length, the estimators under the family, and
tiny synthetic runs where the KL stays at its constant.
"""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import integrate, stats

from bench.config import build_config
from bench.data.batching import collate
from bench.errors import ConfigError
from bench.kit import TINY, check_remedy
from bench.metrics import active_units, iw_log_marginal, mutual_info, mutual_info_batched
from bench.models import build_model
from bench.report.escape import (
    AU_THRESHOLD,
    escape_flags,
    mi_null_threshold,
    run_vmf_kappa,
    scatter_concentration,
    vmf_null_directions,
)
from bench.sampling import prior_codes
from bench.settings import ModelConfig
from bench.single_run import execute, plan_run, resolve
from bench.train import Trainer
from bench.vmf import (
    VonMisesFisher,
    kl_to_uniform,
    log_normaliser,
    log_sphere_area,
    mean_resultant_length,
    sample_cosines,
    sample_vmf,
)

CASES = [(2, 1.0), (2, 80.0), (3, 0.5), (3, 80.0), (16, 10.0), (32, 80.0), (50, 80.0), (50, 500.0)]


def unit_rows(count: int, dim: int, seed: int) -> torch.Tensor:
    rows = torch.randn(count, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return rows / rows.norm(dim=1, keepdim=True)


def cosine_density(dim: int, kappa: float):
    """Density of w = mu^T z on [-1, 1]: C_d(k) e^{k w} (1 - w^2)^{(d-3)/2} |S^{d-2}| (the sphere sliced)."""
    log_const = log_normaliser(dim, kappa) + log_sphere_area(dim - 1)
    return lambda w: math.exp(log_const + kappa * w + (dim - 3) / 2 * math.log1p(-w * w))


def quad(f, a: float = -1.0, b: float = 1.0) -> float:
    return integrate.quad(f, a, b, limit=500, epsabs=1e-12, epsrel=1e-10)[0]


class TestClosedForms:
    @pytest.mark.parametrize(("dim", "kappa"), CASES)
    def test_log_density_matches_scipy(self, dim, kappa):
        family = VonMisesFisher(dim, kappa)
        mu, z = unit_rows(1, dim, 0)[0], unit_rows(5, dim, 1)
        ours = family.log_density(z, mu, torch.zeros(1, 0)).numpy()
        theirs = stats.vonmises_fisher(mu.numpy(), kappa).logpdf(z.numpy())
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)

    @pytest.mark.parametrize("kappa", [0.1, 1.0, 10.0, 80.0, 700.0])
    def test_the_two_sphere_has_its_textbook_normaliser_and_kl(self, kappa):
        # d = 3: C = k / (4 pi sinh k), A = coth k - 1 / k, KL = k coth k - 1 + log(k / sinh k).
        log_sinh = kappa + math.log1p(-math.exp(-2 * kappa)) - math.log(2)
        log_c = math.log(kappa / (4 * math.pi)) - log_sinh
        assert log_normaliser(3, kappa) == pytest.approx(log_c, rel=1e-12)
        assert mean_resultant_length(3, kappa) == pytest.approx(1 / math.tanh(kappa) - 1 / kappa, rel=1e-12)
        kl = kappa / math.tanh(kappa) - 1 + math.log(kappa) - log_sinh
        assert kl_to_uniform(3, kappa) == pytest.approx(kl, rel=1e-10, abs=1e-13)

    @pytest.mark.parametrize(("dim", "kappa"), [case for case in CASES if case[0] > 2])
    def test_kl_and_mean_length_equal_quadrature_over_the_cosine(self, dim, kappa):
        density = cosine_density(dim, kappa)
        assert quad(density) == pytest.approx(1.0, rel=1e-8)
        mean = quad(lambda w: w * density(w))
        assert mean_resultant_length(dim, kappa) == pytest.approx(mean, rel=1e-8)
        log_ratio = log_normaliser(dim, kappa) + log_sphere_area(dim)  # log q(z) - log p(z) = this + k w
        kl = quad(lambda w: (log_ratio + kappa * w) * density(w))
        assert kl_to_uniform(dim, kappa) == pytest.approx(kl, rel=1e-7, abs=1e-9)

    def test_kl_grows_with_kappa_from_zero_and_is_never_negative(self):
        for dim in (2, 16, 32):
            kls = [kl_to_uniform(dim, kappa) for kappa in (1e-3, 0.1, 1.0, 10.0, 80.0, 1000.0)]
            assert kls[0] == pytest.approx(0.0, abs=1e-5) and all(np.diff(kls) > 0)

    def test_density_integrates_to_one_on_the_two_sphere(self):
        family = VonMisesFisher(3, 12.0)
        mu = torch.tensor([0.48, -0.6, 0.64], dtype=torch.float64)

        def integrand(phi: float, theta: float) -> float:
            ring = math.sin(theta)
            point = [ring * math.cos(phi), ring * math.sin(phi), math.cos(theta)]
            z = torch.tensor(point, dtype=torch.float64)
            return math.exp(float(family.log_density(z, mu, torch.zeros(0)))) * math.sin(theta)

        total = integrate.dblquad(integrand, 0, math.pi, 0, 2 * math.pi, epsabs=1e-10)[0]
        assert total == pytest.approx(1.0, rel=1e-7)

    def test_impossible_parameters_are_refused(self):
        for dim, kappa in ((1, 10.0), (8, 0.0), (8, -1.0)):
            with pytest.raises(ValueError, match="vMF needs dim >= 2 and kappa > 0"):
                VonMisesFisher(dim, kappa)


class TestSampler:
    @pytest.mark.parametrize(("dim", "kappa"), CASES)
    def test_mean_resultant_length_and_second_moment(self, dim, kappa):
        count = 40_000
        w = sample_cosines(dim, kappa, count, torch.Generator().manual_seed(dim), torch.device("cpu"))
        density = cosine_density(dim, kappa)
        second = quad(lambda v: v * v * density(v)) if dim > 2 else None
        spread = float(w.std()) / math.sqrt(count)
        assert float(w.mean()) == pytest.approx(mean_resultant_length(dim, kappa), abs=5 * spread)
        if second is not None:
            second_spread = float((w**2).std()) / math.sqrt(count)
            assert float((w**2).mean()) == pytest.approx(second, abs=5 * second_spread)

    def test_circle_cosines_follow_the_von_mises_distribution(self):
        # On S^1 the angle of z to mu is von Mises(0, kappa): a Kolmogorov-Smirnov test on the angle.
        w = sample_cosines(2, 3.0, 5000, torch.Generator().manual_seed(0), torch.device("cpu")).numpy()
        signs = np.where(np.random.default_rng(0).random(w.size) < 0.5, -1.0, 1.0)  # the angle's side
        angles = signs * np.arccos(np.clip(w, -1, 1))
        assert stats.kstest(angles, stats.vonmises(3.0).cdf).pvalue > 0.01

    def test_draws_lie_on_the_sphere_around_their_own_direction(self):
        mu = unit_rows(6, 16, 2)
        z = sample_vmf(mu, 40.0, 3000, torch.Generator().manual_seed(3))
        assert z.shape == (6, 3000, 16) and z.dtype == torch.float64
        assert torch.allclose(z.norm(dim=-1), torch.ones(6, 3000, dtype=torch.float64), atol=1e-12)
        # E_q[z] = A_d(kappa) mu: the tangential parts average out.
        expected = mean_resultant_length(16, 40.0) * mu
        assert torch.allclose(z.mean(dim=1), expected, atol=0.01)

    def test_drawing_a_plus_b_at_once_equals_a_then_b(self):
        mu = unit_rows(5, 8, 4).float()
        whole = sample_vmf(mu, 20.0, 7, torch.Generator().manual_seed(5))
        generator = torch.Generator().manual_seed(5)
        parts = torch.cat([sample_vmf(mu, 20.0, 3, generator), sample_vmf(mu, 20.0, 4, generator)], dim=1)
        assert torch.equal(whole, parts)

    def test_gradient_reaches_the_direction_only(self):
        mu = unit_rows(4, 6, 6).requires_grad_(True)
        z = sample_vmf(mu, 10.0, 2, torch.Generator().manual_seed(7))
        (z * torch.arange(6.0, dtype=torch.float64)).sum().backward()
        assert mu.grad is not None and float(mu.grad.abs().sum()) > 0


class TestPrior:
    def test_prior_draws_are_uniform_on_the_sphere(self):
        family = VonMisesFisher(5, 80.0)
        z = family.sample_prior(40_000, 5, torch.Generator().manual_seed(0)).double()
        assert z.shape == (40_000, 5) and torch.allclose(z.norm(dim=1), torch.ones(40_000).double())
        # Uniform on S^{d-1}: E[z] = 0 (within 5 standard errors) and E[z z^T] = I / d (within 0.01, about
        # 8 standard errors of an entry).
        assert float(z.mean(dim=0).abs().max()) < 5 * math.sqrt(1 / 5 / 40_000)
        second = z.T @ z / 40_000
        assert float((second - torch.eye(5, dtype=torch.float64) / 5).abs().max()) < 0.01

    def test_on_the_circle_the_prior_angle_is_uniform(self):
        z = VonMisesFisher(2, 80.0).sample_prior(5000, 2, torch.Generator().manual_seed(1)).double()
        angles = torch.atan2(z[:, 1], z[:, 0]).numpy()
        assert stats.kstest(angles, stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 0.01

    def test_prior_codes_follow_the_model_family(self):
        vmf = build_model(20, ModelConfig(nz=4, emb=8, enc_hidden=10, dec_hidden=12, posterior="vmf"))
        codes = prior_codes(vmf, 6, torch.Generator().manual_seed(2))
        assert codes.shape == (6, 4) and torch.allclose(codes.norm(dim=1), torch.ones(6))
        plain = build_model(20, ModelConfig(nz=4, emb=8, enc_hidden=10, dec_hidden=12))
        # The Gaussian prior's codes are the stream's N(0, I) draws, as before the family had a say.
        expected = torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
        assert torch.equal(prior_codes(plain, 6, torch.Generator().manual_seed(2)), expected)

    def test_a_prior_of_another_size_is_refused(self):
        with pytest.raises(ValueError, match="lives on S"):
            VonMisesFisher(4, 80.0).sample_prior(3, 5, None)


class TestEstimators:
    def test_iw_nll_does_not_depend_on_the_chunk(self):
        family = VonMisesFisher(8, 30.0)
        mu, none = unit_rows(10, 8, 8), torch.zeros(10, 0)
        target = unit_rows(10, 8, 9)

        def log_likelihood(z: torch.Tensor) -> torch.Tensor:
            return -5.0 * ((z - target.unsqueeze(1)) ** 2).sum(-1)

        runs = [iw_log_marginal(mu, none, log_likelihood, 60, chunk, torch.Generator().manual_seed(1),
                                family=family) for chunk in (7, 25, 60)]
        for other in runs[1:]:
            torch.testing.assert_close(runs[0], other, rtol=0, atol=1e-10)

    def test_iw_nll_is_exact_when_q_is_the_true_posterior(self):
        # With p(x|z) = e^c q(z|x) / p(z), p(x) = e^c and every importance weight equals it.
        family = VonMisesFisher(5, 15.0)
        mu, none = unit_rows(4, 5, 10), torch.zeros(4, 0)

        def log_likelihood(z: torch.Tensor) -> torch.Tensor:
            return -3.0 + family.log_density(z, mu.unsqueeze(1), none) - family.log_prior(z)

        generator = torch.Generator().manual_seed(2)
        log_px = iw_log_marginal(mu, none, log_likelihood, 9, 4, generator, family=family)
        torch.testing.assert_close(log_px, torch.full((4,), -3.0, dtype=torch.float64))

    def test_mutual_information_is_zero_for_one_posterior_and_log_n_for_distinct_sharp_ones(self):
        direction = unit_rows(1, 4, 11)
        same = mutual_info(direction.expand(64, 4), torch.zeros(64, 0), torch.Generator().manual_seed(0),
                           family=VonMisesFisher(4, 50.0))
        assert same == pytest.approx(0.0, abs=1e-12)
        spread = unit_rows(64, 4, 12)
        sharp = mutual_info(spread, torch.zeros(64, 0), torch.Generator().manual_seed(0),
                            family=VonMisesFisher(4, 5000.0))
        assert sharp == pytest.approx(math.log(64), abs=0.05)
        broad = mutual_info(spread, torch.zeros(64, 0), torch.Generator().manual_seed(0),
                            family=VonMisesFisher(4, 2.0))
        assert 0 < broad < sharp

    def test_per_batch_analytic_estimator_uses_the_vmf_entropy(self):
        family = VonMisesFisher(4, 50.0)
        same = unit_rows(1, 4, 13).expand(40, 4)
        # One posterior: E_q[log q] (analytic) against the mixture's log density at the draws, mean ~0.
        estimate = mutual_info_batched(same, torch.zeros(40, 0), [20, 20], torch.Generator().manual_seed(1),
                                       analytic_entropy=True, family=family)
        assert abs(estimate) < 0.5

    def test_gaussian_estimators_refuse_vmf_parameters(self):
        with pytest.raises(ValueError, match="same shape"):
            mutual_info(unit_rows(8, 4, 14), torch.zeros(8, 0), torch.Generator().manual_seed(0))

    def test_active_units_read_the_posterior_mean(self):
        family = VonMisesFisher(4, 80.0)
        mu = torch.zeros(200, 4, dtype=torch.float64)
        mu[:, 0] = torch.where(torch.arange(200) % 2 == 0, 1.0, -1.0)
        mean = family.mean(mu, torch.zeros(200, 0))
        assert torch.allclose(mean, mean_resultant_length(4, 80.0) * mu)
        assert active_units(mean) == 1

    def test_kl_per_unit_is_the_constant_spread_evenly(self):
        family = VonMisesFisher(32, 80.0)
        kl = family.kl_per_dim(unit_rows(3, 32, 15).float(), torch.zeros(3, 0))
        assert kl.shape == (3, 32) and torch.allclose(kl.sum(-1), torch.full((3,), kl_to_uniform(32, 80.0)))


SENTENCES = [[5 + (3 * i + j) % 14 for j in range(3 + i % 5)] for i in range(12)]
BATCH = collate(SENTENCES, list(range(12)))


class TestModel:
    def model(self, draws: int = 1) -> torch.nn.Module:
        cfg = ModelConfig(nz=4, emb=8, enc_hidden=10, dec_hidden=12, init="pytorch", posterior="vmf",
                          vmf_kappa=25.0, vmf_draws=draws)
        torch.manual_seed(0)
        return build_model(20, cfg)

    def decoder_codes(self, model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
        """Every z that `loss_terms` hands the decoder, recorded."""
        codes, score = [], model.log_likelihood

        def recorded(batch, z, inputs=None):
            codes.append(z.detach().clone())
            return score(batch, z, inputs)

        monkeypatch.setattr(model, "log_likelihood", recorded)
        return codes

    @pytest.mark.parametrize("draws", [1, 3])
    def test_in_training_the_decoder_reads_the_mean_of_the_draws(self, draws, monkeypatch):
        """Xu & Durrett's `RNNVAE.forward`: z is the mean of `--nsample` draws of one stream."""
        model = self.model(draws).train()
        codes = self.decoder_codes(model, monkeypatch)
        terms = model.loss_terms(BATCH, generator=torch.Generator().manual_seed(4))
        expected = sample_vmf(terms.mu.detach(), 25.0, draws, torch.Generator().manual_seed(4))
        assert len(codes) == 1 and codes[0].shape == (12, 1, 4)
        torch.testing.assert_close(codes[0], expected.mean(dim=1, keepdim=True), rtol=0, atol=0)
        lengths = codes[0].norm(dim=-1)
        if draws == 1:  # a draw lies on the sphere, a mean of three distinct draws inside it
            torch.testing.assert_close(lengths, torch.ones(12, 1))
        else:
            assert bool((lengths < 1 - 1e-4).all())
        assert torch.allclose(terms.kl, torch.full((12,), kl_to_uniform(4, 25.0)), rtol=1e-6)

    def test_in_eval_mode_the_decoder_reads_one_draw(self, monkeypatch):
        model = self.model(3).eval()
        codes = self.decoder_codes(model, monkeypatch)
        terms = model.loss_terms(BATCH, generator=torch.Generator().manual_seed(4))
        expected = sample_vmf(terms.mu, 25.0, 1, torch.Generator().manual_seed(4))
        torch.testing.assert_close(codes[0], expected, rtol=0, atol=0)

    def test_the_encoder_gives_unit_directions_and_the_loss_the_constant_kl(self):
        model = self.model()
        mu, scale = model.encode(BATCH)
        assert mu.shape == (12, 4) and scale.shape == (12, 0)
        assert torch.allclose(mu.norm(dim=-1), torch.ones(12), atol=1e-6)
        terms = model.loss_terms(BATCH, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(terms.kl, torch.full((12,), kl_to_uniform(4, 25.0)), rtol=1e-6)
        assert not terms.kl.requires_grad and terms.rec.requires_grad

    def test_one_training_step_moves_the_direction_and_keeps_the_kl(self):
        run = resolve("synthetic", "vmf(kappa=20)", 0, TINY)
        trainer = Trainer(run.config, plan_run(run).corpus, run.remedy)
        assert trainer.model.draws == 3  # the remedy's default: their code's --nsample
        before = trainer.model.encoder.to_direction.weight.detach().clone()
        trainer.run_step(trainer.train_batches[0])
        assert not torch.equal(trainer.model.encoder.to_direction.weight, before)
        expected = kl_to_uniform(run.config.model.nz, 20.0)
        assert torch.allclose(trainer.last_terms.kl.detach(), torch.tensor(expected), rtol=1e-6)


class TestNull:
    """The escape rule's MI null in the vMF family (bench/report/escape.py, docs/protocol.md "Verdicts")."""

    @pytest.mark.parametrize(("nz", "kappa"), [(2, 80.0), (16, 80.0), (32, 80.0), (16, 20.0)])
    def test_the_null_means_scatter_at_the_au_line_across_the_centre(self, nz, kappa):
        length = mean_resultant_length(nz, kappa)
        scatter = scatter_concentration(nz, kappa)
        variance = length**2 * mean_resultant_length(nz, scatter) / scatter  # E[m m^T] across the centre
        assert variance == pytest.approx(AU_THRESHOLD, rel=1e-9)
        means = length * vmf_null_directions(20_000, nz, kappa, torch.Generator().manual_seed(nz))
        across = means[:, 1:].var(dim=0)
        assert torch.allclose(across, torch.full_like(across, AU_THRESHOLD), rtol=0.05)
        assert float(means[:, 0].var()) < AU_THRESHOLD / 2  # along the centre: far below the line

    def test_without_a_reachable_line_the_directions_are_uniform(self):
        # kappa 1 in 16 units: A^2 / 16 < 0.01, so no scatter puts every unit at the line.
        assert scatter_concentration(16, 1.0) is None
        directions = vmf_null_directions(20_000, 16, 1.0, torch.Generator().manual_seed(0))
        assert float(directions.mean(dim=0).abs().max()) < 0.03

    def test_narrow_posteriors_make_the_same_scatter_informative(self):
        gaussian = mi_null_threshold(200, 4)
        loose, sharp = (mi_null_threshold(200, 4, vmf_kappa=kappa) for kappa in (20.0, 80.0))
        assert gaussian < 0.1 < loose < sharp  # measured: 0.045, 0.41, 1.05
        assert sharp == mi_null_threshold.__wrapped__(200, 4, vmf_kappa=80.0)

    def test_escape_flags_take_each_run_s_family(self):
        common = {"status": "finished", "n_sentences": 200, "model.nz": 4, "mi": 0.5, "au": 2}
        runs = pd.DataFrame([{**common, "model.posterior": "gaussian", "model.vmf_kappa": 80.0},
                             {**common, "model.posterior": "vmf", "model.vmf_kappa": 80.0},
                             {**common, "model.posterior": "vmf", "model.vmf_kappa": 80.0, "mi": 1.2}])
        assert escape_flags(runs).tolist() == [True, False, True]
        assert run_vmf_kappa(pd.Series(common)) is None  # a row stored before the setting: Gaussian

    def test_the_threshold_quoted_in_the_protocol_is_the_one_the_rule_computes(self):
        protocol = Path(__file__).parents[1] / "docs" / "protocol.md"
        text = " ".join(protocol.read_text(encoding="utf-8").split())
        quoted = re.search(r"1,000 test sentences, nz = 16 and kappa = 80: MI > ([0-9.]+) nats", text)
        assert quoted, "docs/protocol.md no longer quotes the vMF threshold"
        assert float(quoted.group(1)) == round(mi_null_threshold(1000, 16, vmf_kappa=80.0), 3)


@pytest.mark.parametrize(("spec", "draws"), [("vmf", 3), ("vmf(draws=1)", 1)])
def test_the_remedy_sets_the_draws_the_decoder_averages(spec, draws):
    assert resolve("synthetic", spec, 0, TINY).config.model.vmf_draws == draws


def test_the_remedy_passes_the_plugin_kit():
    check_remedy("vmf")


def test_runs_stored_before_keep_their_ids():
    cfg = build_config("synthetic", "none", 0, {})
    assert cfg.run_id() == "8b74e1ad18a4"
    assert not {"posterior", "vmf_kappa", "vmf_draws"} & set(cfg.to_dict()["model"])
    assert resolve("synthetic", "delta-vae", 0, {}).config.run_id() == resolve(
        "synthetic", "delta-vae", 0, {"model.vmf_kappa": "80"}).config.run_id()


@pytest.mark.parametrize(("spec", "overrides", "message"), [
    ("none", {"model.posterior": "sphere"}, "model.posterior must be one of gaussian, vmf, got 'sphere'"),
    ("none", {"model.vmf_kappa": "0"}, "model.vmf_kappa must be > 0, got 0.0"),
    ("vmf", {"model.nz": "1"}, 'model.posterior = "vmf" needs model.nz >= 2'),
    ("vmf+delta-vae", {}, 'model.posterior = "vmf" has no variance or Gaussian mean to shape'),
    ("vmf", {"train.gap_sentences": "10"}, "the amortisation gap optimises a Gaussian q(z|x)"),
    ("vmf(kappa=-1)", {}, "vmf: kappa must be > 0"),
    ("vmf(draws=0)", {}, "vmf: draws must be >= 1"),
    ("none", {"model.vmf_draws": "3"}, "model.vmf_draws averages vMF draws: it needs model.posterior"),
])
def test_impossible_vmf_settings_are_one_clear_error(spec, overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve("synthetic", spec, 0, {**TINY, **overrides})


# Tiny synthetic runs (tests/test_remedy_behaviour.py's corpus: vocabulary 100, nz 2, 10-token sentences).
COMMON = {"data.synthetic_vocab": 100, "eval.iw_samples": 10, "train.diag_every": 0, "train.threads": 1}
PYTORCH_INIT = {**COMMON, "data.synthetic_size": 1000, "train.epochs": 2, "model.init": "pytorch"}
REFERENCE_INIT = {**COMMON, "data.synthetic_size": 500, "train.epochs": 1}


@pytest.fixture
def restore_threads():
    """`train.threads` sets torch's process-wide thread count; give it back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def finished(remedy: str, setting: dict, out: Path) -> dict:
    metrics = execute(plan_run(resolve("synthetic", remedy, 0, setting)), out, "vmf")
    assert metrics["status"] == "finished", metrics.get("reason")
    return metrics


@pytest.mark.usefixtures("restore_threads")
def test_the_kl_stays_at_its_constant_where_the_plain_vae_collapses(tmp_path):
    """Xu & Durrett's claim: with kappa fixed the KL is a constant, so it cannot collapse, and the
    decoder uses z. Measured at seed 0: none KL 0.026, MI 0.012; vmf (3 draws) KL 2.607 (the constant
    at nz 2, kappa 80), MI 1.68, AU 2 (seeds 1, 2: MI 1.66, 1.81; with draws=1: 1.72, 1.49, 1.48)."""
    plain = finished("none", PYTORCH_INIT, tmp_path)["test"]
    assert plain["kl"] < 0.05 and plain["mi"] < 0.05
    metrics = finished("vmf", PYTORCH_INIT, tmp_path)
    constant = kl_to_uniform(2, 80.0)
    assert all(row["kl"] == pytest.approx(constant, rel=1e-6) for row in metrics["validation"])
    test = metrics["test"]
    assert test["kl"] == pytest.approx(constant, rel=1e-6)
    assert test["mi"] > 0.3 and test["au"] == 2 and math.isfinite(test["nll"])


@pytest.mark.usefixtures("restore_threads")
def test_a_constant_kl_does_not_make_the_encoder_informative(tmp_path):
    """Under He et al.'s reference init the encoder's direction barely depends on x: the KL is still
    the constant, yet MI is 0 and no unit is active (seeds 0-2: MI within 6e-4 of 0; draws=1 within 2e-4).
    A KL that cannot collapse is not information about x."""
    test = finished("vmf", REFERENCE_INIT, tmp_path)["test"]
    assert test["kl"] == pytest.approx(kl_to_uniform(2, 80.0), rel=1e-6)
    assert abs(test["mi"]) < 0.05 and test["au"] == 0
