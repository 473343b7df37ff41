"""Known-answer tests for bench.metrics: closed forms, quadrature, exact identities."""

import doctest
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from bench import metrics
from bench.metrics import (
    active_units,
    gaussian_kl,
    gaussian_kl_per_dim,
    iw_log_marginal,
    log_normal,
    log_normal_pairwise,
    mutual_info,
    mutual_info_batched,
    perplexity,
    sample_posterior,
    unit_variances,
)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_docstring_examples():
    assert doctest.testmod(metrics).failed == 0


class TestGaussianKL:
    def test_zero_at_the_prior(self):
        assert torch.equal(gaussian_kl(torch.zeros(5, 3), torch.zeros(5, 3)), torch.zeros(5))

    def test_matches_torch_distributions(self):
        mu, logvar = torch.randn(6, 4, generator=seeded(0)), torch.randn(6, 4, generator=seeded(1))
        q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
        p = torch.distributions.Normal(torch.zeros(()), torch.ones(()))
        expected = torch.distributions.kl_divergence(q, p)
        torch.testing.assert_close(gaussian_kl_per_dim(mu, logvar), expected)
        torch.testing.assert_close(gaussian_kl(mu, logvar), expected.sum(dim=1))

    def test_matches_monte_carlo(self):
        mu = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
        logvar = torch.tensor([[0.3, -1.0, -2.0]], dtype=torch.float64)
        mu, logvar = mu.expand(200_000, 3), logvar.expand(200_000, 3)
        z = sample_posterior(mu, logvar, 1, seeded(2))  # [S, 1, nz]: one unit per column
        zero = torch.zeros((), dtype=torch.float64)
        per_unit = (z.mT, mu[:, :, None], logvar[:, :, None])
        log_ratio = log_normal(*per_unit) - log_normal(z.mT, zero, zero)  # [S, nz]
        torch.testing.assert_close(
            log_ratio.mean(dim=0), gaussian_kl_per_dim(mu[:1], logvar[:1])[0], atol=0.02, rtol=0
        )

    def test_rejects_mismatched_shapes(self):
        with pytest.raises(ValueError, match=r"same shape \[N, nz\] but got \[2, 3\] and \[2, 4\]"):
            gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))


def test_log_normal_matches_scipy():
    z, mu = torch.randn(5, 3, generator=seeded(0)), torch.randn(5, 3, generator=seeded(1))
    logvar = torch.randn(5, 3, generator=seeded(2))
    expected = [
        stats.multivariate_normal(m, np.diag(np.exp(lv))).logpdf(x)
        for x, m, lv in zip(
            z.double().numpy(), mu.double().numpy(), logvar.double().numpy(), strict=True
        )
    ]
    torch.testing.assert_close(log_normal(z, mu, logvar).double(), torch.tensor(expected))


class TestSamplePosterior:
    def test_draws_in_two_calls_equal_one_call(self):
        mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
        generator = seeded(0)
        parts = [sample_posterior(mu, logvar, n, generator) for n in (2, 3)]
        assert torch.equal(torch.cat(parts, dim=1), sample_posterior(mu, logvar, 5, seeded(0)))

    def test_is_reparameterised(self):
        mu = torch.zeros(4, 2, requires_grad=True)
        logvar = torch.zeros(4, 2, requires_grad=True)
        z = sample_posterior(mu, logvar, 3, seeded(0))
        assert z.shape == (4, 3, 2)
        z.sum().backward()
        torch.testing.assert_close(mu.grad, torch.full((4, 2), 3.0))
        torch.testing.assert_close(logvar.grad, 0.5 * z.detach().sum(dim=1))


class LinearGaussian:
    """p(z) = N(0, 1), x_d | z ~ N(a_d z, s^2): p(x) and p(z|x) in closed form."""

    def __init__(self, a: list[float], s: float) -> None:
        self.a, self.s = torch.tensor(a, dtype=torch.float64), s

    def sample_x(self, n: int, seed: int) -> torch.Tensor:
        generator = seeded(seed)
        z = torch.randn(n, 1, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, len(self.a), generator=generator, dtype=torch.float64)
        return z * self.a + self.s * noise

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a.numpy()
        cov = np.outer(a, a) + self.s**2 * np.eye(len(a))
        return torch.tensor(stats.multivariate_normal(np.zeros(len(a)), cov).logpdf(x.numpy()))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        precision = 1.0 + (self.a**2).sum() / self.s**2
        mean = (x @ self.a / self.s**2) / precision
        return mean[:, None], torch.full_like(mean, -math.log(precision))[:, None]

    def log_likelihood(self, x: torch.Tensor):
        def log_px_z(z: torch.Tensor) -> torch.Tensor:  # z: [N, S, 1]
            mean = z * self.a.to(z.dtype)
            logvar = torch.tensor(2 * math.log(self.s), dtype=z.dtype)
            return log_normal(x.to(z.dtype)[:, None, :], mean, logvar)

        return log_px_z


class TestImportanceWeightedLogMarginal:
    model = LinearGaussian(a=[1.5, -0.7, 0.3], s=0.8)

    @pytest.mark.parametrize("k", [1, 7, 50])
    def test_exact_for_any_k_with_the_true_posterior(self, k):
        x = self.model.sample_x(20, seed=0)
        mu, logvar = self.model.posterior(x)
        estimate = iw_log_marginal(mu, logvar, self.model.log_likelihood(x), k, 16, seeded(1))
        torch.testing.assert_close(estimate, self.model.log_marginal(x), atol=1e-10, rtol=0)

    def test_float32_decoder(self):
        x = self.model.sample_x(20, seed=0)
        mu, logvar = self.model.posterior(x)
        estimate = iw_log_marginal(
            mu.float(), logvar.float(), self.model.log_likelihood(x), 3, 2, seeded(1)
        )
        assert estimate.dtype == torch.float64
        torch.testing.assert_close(estimate, self.model.log_marginal(x), atol=1e-5, rtol=0)

    def test_converges_with_a_wrong_proposal(self):
        x = self.model.sample_x(20, seed=0)
        mu, logvar = self.model.posterior(x)
        wrong_mu, wrong_logvar = mu + 0.5, logvar + 2 * math.log(1.5)
        estimate = iw_log_marginal(
            wrong_mu, wrong_logvar, self.model.log_likelihood(x), 5000, 500, seeded(1)
        )
        torch.testing.assert_close(estimate, self.model.log_marginal(x), atol=0.05, rtol=0)

    def test_does_not_depend_on_chunk_size(self):
        x = self.model.sample_x(10, seed=0)
        mu, logvar = self.model.posterior(x)
        mu, logvar = mu - 0.3, logvar + 0.5  # a wrong q, so the samples matter
        log_px_z = self.model.log_likelihood(x)
        whole, chunked, oversized = (
            iw_log_marginal(mu, logvar, log_px_z, 50, chunk, seeded(3)) for chunk in (50, 7, 64)
        )
        torch.testing.assert_close(chunked, whole, atol=1e-12, rtol=0)
        torch.testing.assert_close(oversized, whole, atol=1e-12, rtol=0)

    def test_rejects_a_likelihood_of_the_wrong_shape(self):
        mu, logvar = torch.zeros(4, 2), torch.zeros(4, 2)
        with pytest.raises(ValueError, match=r"shape \[N, s\] = \[4, 3\] but got \[4\]"):
            iw_log_marginal(mu, logvar, lambda z: z.sum(dim=(1, 2)), 3, 3, seeded(0))

    def test_matches_quadrature_for_binary_data(self):
        # p(z) = N(0, 1), x_d | z ~ Bernoulli(sigmoid(w_d z + b_d)), all 16 x in {0, 1}^4.
        w, b = np.array([2.0, -1.5, 1.0, 0.5]), np.array([0.3, -0.2, 0.0, 1.0])
        xs = np.array([[(i >> d) & 1 for d in range(4)] for i in range(16)], dtype=np.float64)

        def joint(z: float, x: np.ndarray) -> float:
            logits = w * z + b
            log_lik = (x * logits - np.logaddexp(0.0, logits)).sum()
            return math.exp(stats.norm.logpdf(z) + log_lik)

        exact = np.log([integrate.quad(joint, -np.inf, np.inf, args=(x,))[0] for x in xs])
        assert np.exp(exact).sum() == pytest.approx(1.0, abs=1e-8)

        x_t, w_t, b_t = torch.tensor(xs), torch.tensor(w), torch.tensor(b)

        def log_px_z(z: torch.Tensor) -> torch.Tensor:  # z: [16, S, 1]
            logits = z * w_t + b_t
            return (x_t[:, None, :] * logits - torch.nn.functional.softplus(logits)).sum(-1)

        # A deliberately crude proposal, wider than the prior so the weights stay bounded.
        mu = (x_t @ w_t / 4.0)[:, None]
        logvar = torch.full_like(mu, 2 * math.log(1.2))
        estimate = iw_log_marginal(mu, logvar, log_px_z, 5000, 1000, seeded(0))
        torch.testing.assert_close(estimate, torch.tensor(exact), atol=0.05, rtol=0)


def test_pairwise_log_normal_matches_the_broadcast_version():
    z = 50.0 + torch.randn(7, 4, generator=seeded(0), dtype=torch.float64)
    mu = 50.0 + torch.randn(9, 4, generator=seeded(1), dtype=torch.float64)
    logvar = torch.linspace(-12.0, 2.0, 36, dtype=torch.float64).reshape(9, 4)
    naive = log_normal(z[:, None, :], mu[None, :, :], logvar[None, :, :])
    torch.testing.assert_close(log_normal_pairwise(z, mu, logvar), naive, rtol=1e-12, atol=1e-6)


class TestMutualInfo:
    @staticmethod
    def gaussian_encoder(a: torch.Tensor, sigma: float, n: int):
        """x ~ N(0, I) via quantiles (one dimension) or seeded draws; mu = a * x."""
        if len(a) == 1:
            x = torch.tensor(stats.norm.ppf((np.arange(n) + 0.5) / n))[:, None]
        else:
            x = torch.randn(n, len(a), generator=seeded(123), dtype=torch.float64)
        return x * a, torch.full((n, len(a)), 2 * math.log(sigma), dtype=torch.float64)

    def test_scalar_gaussian_closed_form(self):
        # I(x; z) = 0.5 log(1 + a^2 s^2 / sigma^2), here with s = 1.
        mu, logvar = self.gaussian_encoder(torch.tensor([1.0]), sigma=0.4, n=8000)
        expected = 0.5 * math.log(1 + 1 / 0.4**2)  # 0.99 nats
        assert mutual_info(mu, logvar, seeded(0)) == pytest.approx(expected, abs=0.02)

    def test_independent_dimensions_add_up(self):
        a = torch.tensor([1.0, 0.5, 2.0])
        mu, logvar = self.gaussian_encoder(a, sigma=0.4, n=8000)
        expected = sum(0.5 * math.log(1 + ai**2 / 0.4**2) for ai in a.tolist())  # 3.09 nats
        assert mutual_info(mu, logvar, seeded(0)) == pytest.approx(expected, abs=0.04)

    def test_exactly_zero_when_every_posterior_is_the_prior(self):
        # Both terms are evaluated at the same sample, so they cancel exactly.
        n, nz = 4096, 32
        assert mutual_info(torch.zeros(n, nz), torch.zeros(n, nz), seeded(0)) == pytest.approx(
            0.0, abs=1e-9
        )

    def test_exactly_zero_when_every_posterior_is_the_same_non_prior(self):
        mu, logvar = torch.full((500, 4), 1.5), torch.full((500, 4), -2.0)
        assert mutual_info(mu, logvar, seeded(3)) == pytest.approx(0.0, abs=1e-9)

    def test_log_n_when_posteriors_are_narrow_and_far_apart(self):
        n, nz = 256, 8
        mu = 100.0 * torch.randn(n, nz, generator=seeded(1))
        logvar = torch.full((n, nz), math.log(1e-4))
        assert mutual_info(mu, logvar, seeded(0)) == pytest.approx(math.log(n), abs=1e-6)

    def test_does_not_depend_on_chunk_size(self):
        mu, logvar = torch.randn(300, 4, generator=seeded(0)), torch.randn(300, 4) - 1.0
        assert mutual_info(mu, logvar, seeded(1), chunk=7) == pytest.approx(
            mutual_info(mu, logvar, seeded(1), chunk=1024), abs=1e-10
        )


class TestMutualInfoBatched:
    def test_whole_set_when_one_batch_holds_everything(self):
        mu, logvar = torch.randn(50, 3, generator=seeded(0)), torch.zeros(50, 3) - 1.0
        assert mutual_info_batched(mu, logvar, 64, seeded(1)) == pytest.approx(
            mutual_info(mu, logvar, seeded(1)), abs=1e-12
        )

    def test_exactly_zero_on_collapsed_posteriors(self):
        mi = mutual_info_batched(torch.zeros(4096, 2), torch.zeros(4096, 2), 32, seeded(0))
        assert mi == pytest.approx(0.0, abs=1e-9)

    def test_capped_near_log_batch_size(self):
        n, nz, batch = 100, 2, 32  # batches of 32, 32, 32 and 4
        mu = 100.0 * torch.randn(n, nz, generator=seeded(1))
        logvar = torch.full((n, nz), math.log(1e-4))
        expected = (96 * math.log(32) + 4 * math.log(4)) / n
        assert mutual_info_batched(mu, logvar, batch, seeded(0)) == pytest.approx(
            expected, abs=1e-6
        )


    def test_listed_batch_sizes_cap_each_batch_at_its_own_log_size(self):
        n, nz = 100, 2  # He et al.'s equal-length groups: batches of 32, 5, 1 and 62
        mu = 100.0 * torch.randn(n, nz, generator=seeded(1))
        logvar = torch.full((n, nz), math.log(1e-4))
        expected = (32 * math.log(32) + 5 * math.log(5) + 1 * 0.0 + 62 * math.log(62)) / n
        assert mutual_info_batched(mu, logvar, [32, 5, 1, 62], seeded(0)) == pytest.approx(expected, abs=1e-6)

    def test_listed_batch_sizes_must_cover_the_set(self):
        with pytest.raises(ValueError, match="summing to N = 10"):
            mutual_info_batched(torch.zeros(10, 2), torch.zeros(10, 2), [4, 4], seeded(0))


class TestAnalyticEntropy:
    """He et al.'s form: closed-form entropy of q(z|x), the aggregate term at one sample."""

    def test_scalar_gaussian_closed_form(self):
        mu, logvar = TestMutualInfo.gaussian_encoder(torch.tensor([1.0]), sigma=0.4, n=8000)
        expected = 0.5 * math.log(1 + 1 / 0.4**2)
        assert mutual_info(mu, logvar, seeded(0), analytic_entropy=True) == pytest.approx(expected, abs=0.03)

    def test_collapsed_posteriors_scatter_around_zero(self):
        # Not exactly 0 as the shared-sample form: the two terms no longer cancel.
        # Over seeds the mean is ~0 and the spread ~ sqrt(nz / (2 * batch)).
        batch, nz = 32, 4
        values = torch.tensor([
            mutual_info_batched(torch.zeros(batch, nz), torch.zeros(batch, nz), batch, seeded(seed),
                                analytic_entropy=True)
            for seed in range(400)
        ])
        assert abs(float(values.mean())) < 0.05
        assert float(values.std()) == pytest.approx(math.sqrt(nz / (2 * batch)), rel=0.35)


class TestActiveUnits:
    def test_counts_the_units_that_vary(self):
        noise = torch.randn(2000, 8, generator=seeded(0))
        scale = torch.tensor([1.0, 0.01, 1.0, 0.01, 0.01, 1.0, 0.01, 0.01])  # variance 1 or 1e-4
        assert active_units(noise * scale) == 3

    def test_unit_at_the_threshold_is_active(self):
        mu = torch.tensor([[0.0, 0.0], [0.25, 0.0]])  # unbiased variance 0.03125, exact
        assert active_units(mu, threshold=0.03125) == 1
        assert active_units(mu, threshold=math.nextafter(0.03125, 1.0)) == 0

    def test_variances_are_unbiased(self):
        mu = torch.randn(10, 3, generator=seeded(0))
        expected = torch.tensor(np.var(mu.double().numpy(), axis=0, ddof=1))
        torch.testing.assert_close(unit_variances(mu), expected)

    def test_needs_two_points(self):
        with pytest.raises(ValueError, match="N >= 2"):
            active_units(torch.zeros(1, 4))


def test_perplexity_known_value():
    assert perplexity(100 * math.log(50.0), 100) == pytest.approx(50.0, rel=1e-12)
    with pytest.raises(ValueError, match="total_words >= 1"):
        perplexity(1.0, 0)
