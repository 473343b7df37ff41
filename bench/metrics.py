"""Estimators for posterior collapse: KL, mutual information, active units, IW NLL.

Pure functions on posterior parameters: they take tensors (and, for
log p(x|z), a callable), never a model, and every random draw comes from an
explicit `torch.Generator`. All log-densities and information quantities are
in nats. Definitions follow He et al. 2019 ("Lagging Inference Networks and
Posterior Collapse in Variational Autoencoders", arXiv:1901.05534).

Shapes: `mu` and `logvar` are the diagonal-Gaussian posterior parameters
q(z|x) = N(mu, diag(exp(logvar))), shape [N, nz]. The IW NLL and MI
estimators are written once against a `PosteriorFamily` (`family=`): the
diagonal Gaussian with prior N(0, I) by default, the fixed-concentration
von Mises-Fisher with the uniform prior on the sphere in bench/vmf.py; there
`mu` is the mean direction and `logvar` has no columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor

__all__ = [
    "GAUSSIAN",
    "DiagonalGaussian",
    "PosteriorFamily",
    "active_units",
    "gaussian_kl",
    "gaussian_kl_per_dim",
    "iw_log_marginal",
    "log_normal",
    "log_normal_pairwise",
    "mutual_info",
    "mutual_info_batched",
    "perplexity",
    "sample_posterior",
    "unit_variances",
]

_LOG_2PI = math.log(2 * math.pi)


def _check_posterior(mu: Tensor, logvar: Tensor) -> None:
    if mu.ndim != 2 or logvar.shape != mu.shape:
        raise ValueError(
            "Expected mu and logvar of the same shape [N, nz] but got "
            f"{list(mu.shape)} and {list(logvar.shape)}"
        )


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"Expected {name} >= 1 but got {value}")


def gaussian_kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL divergence of each posterior dimension from the standard normal prior.

    KL(N(mu, e^logvar) || N(0, 1)) = 0.5 * (mu^2 + e^logvar - 1 - logvar), in nats.

    Differentiable; used by the training loss as well as for reporting.

    Args:
        mu: posterior means, shape [N, nz].
        logvar: posterior log-variances, shape [N, nz].

    Returns:
        Per-example, per-dimension KL, shape [N, nz], dtype of the inputs.

    Example:
        >>> gaussian_kl_per_dim(torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2))
        tensor([[0.0000, 0.5000]])
    """
    _check_posterior(mu, logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(q(z|x) || N(0, I)) per example, summed over latent dimensions, in nats.

    KL = 0.5 * sum_u (mu_u^2 + e^logvar_u - 1 - logvar_u)

    Args:
        mu: posterior means, shape [N, nz].
        logvar: posterior log-variances, shape [N, nz].

    Returns:
        Shape [N]. The reported KL metric is its mean over the test set.

    Example:
        >>> gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4))
        tensor([0., 0., 0.])
    """
    return gaussian_kl_per_dim(mu, logvar).sum(dim=-1)


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Log-density of a diagonal Gaussian, summed over the last dimension, in nats.

    log N(z; mu, diag e^logvar) = -0.5 * sum_d [log(2 pi) + logvar_d + (z_d - mu_d)^2 / e^logvar_d]

    The three arguments broadcast against each other (e.g. z [N, s, nz] with
    mu, logvar [N, 1, nz]); the result has the broadcast shape without the
    last dimension.

    Example:
        >>> round(log_normal(torch.zeros(1), torch.zeros(1), torch.zeros(1)).item(), 4)
        -0.9189
    """
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def log_normal_pairwise(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Log-density of every point under every diagonal Gaussian, in nats.

    out[i, j] = log N(z_i; mu_j, diag e^logvar_j)

    Computed as one matrix product instead of an [M, N, nz] broadcast: with
    p = e^-logvar, sum_d (z_id - mu_jd)^2 p_jd = (z^2) @ p^T - 2 z @ (mu p)^T
    + sum_d mu_jd^2 p_jd. The expansion cancels when |z|, |mu| >> sigma, so
    both are first centred on the mean of `mu` (the density is translation
    invariant); in float64 the absolute error is then below about
    1e-15 * nz * (spread of mu / smallest sigma)^2, e.g. 2e-6 nats measured
    at nz = 32, spread 10, sigma 1e-3. Pass float64 inputs for that accuracy.

    Args:
        z: points, shape [M, nz].
        mu: means, shape [N, nz].
        logvar: log-variances, shape [N, nz].

    Returns:
        Shape [M, N].
    """
    _check_posterior(mu, logvar)
    if z.ndim != 2 or z.shape[1] != mu.shape[1]:
        raise ValueError(
            f"Expected z of shape [M, {mu.shape[1]}] to match mu {list(mu.shape)} "
            f"but got {list(z.shape)}"
        )
    shift = mu.mean(dim=0)
    z, mu = z - shift, mu - shift
    precision = torch.exp(-logvar)
    nz = mu.shape[1]
    const = (mu.pow(2) * precision + logvar).sum(dim=1) + nz * _LOG_2PI  # [N]
    z_features = torch.cat([z.pow(2), z, torch.ones_like(z[:, :1])], dim=1)  # [M, 2nz+1]
    mu_features = torch.cat([precision, -2.0 * mu * precision, const[:, None]], dim=1)
    return -0.5 * (z_features @ mu_features.T)


def sample_posterior(
    mu: Tensor, logvar: Tensor, n: int, generator: torch.Generator | None
) -> Tensor:
    """Reparameterised samples z = mu + exp(logvar / 2) * eps, eps ~ N(0, I).

    Differentiable with respect to `mu` and `logvar` (Kingma & Welling 2014).
    Sample s is drawn as its own [N, nz] block of `generator`'s stream, in
    order s = 0, 1, ..., so drawing n = a + b samples at once gives the same
    samples as drawing a and then b: importance sampling in chunks does not
    depend on the chunk size.

    Args:
        mu: posterior means, shape [N, nz].
        logvar: posterior log-variances, shape [N, nz].
        n: samples per example.
        generator: source of the noise (on mu's device); None uses torch's
            global generator, acceptable in training only.

    Returns:
        Shape [N, n, nz], dtype and device of `mu`.
    """
    _check_posterior(mu, logvar)
    _check_positive("n", n)
    eps = torch.stack(
        [
            torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
            for _ in range(n)
        ],
        dim=1,
    )
    return mu.unsqueeze(1) + torch.exp(0.5 * logvar).unsqueeze(1) * eps


class PosteriorFamily(Protocol):
    """A family of q(z|x) over R^nz with its prior p(z): what the estimators below need of it.

    Each sentence's posterior is given by two tensors, `loc` [N, nz] and
    `scale` [N, m] (their meaning is the family's); methods broadcast them
    against `z` as `log_normal` does (z [N, s, nz] with loc [N, 1, nz]).
    """

    def check(self, loc: Tensor, scale: Tensor) -> None:
        """Raise ValueError unless (loc, scale) are this family's parameters of N posteriors."""

    def sample(self, loc: Tensor, scale: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
        """[N, n, nz] draws, sample s as its own block of `generator`'s stream (as `sample_posterior`)."""

    def log_density(self, z: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
        """log q(z | loc, scale), broadcast, summed over the last dimension."""

    def log_density_pairwise(self, z: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
        """[M, N]: log q(z_i | loc_j, scale_j)."""

    def expected_log_density(self, loc: Tensor, scale: Tensor) -> Tensor:
        """[N]: E_q[log q(z|x)], the negative entropy, in closed form."""

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z), summed over the last dimension."""

    def sample_prior(self, count: int, dim: int, generator: torch.Generator | None) -> Tensor:
        """[count, dim] draws z ~ p(z) in float32: the codes decoded "from the prior"."""

    @property
    def prior_name(self) -> str:
        """p(z) in words, for what prints decodes from it."""

    def kl_per_dim(self, loc: Tensor, scale: Tensor) -> Tensor:
        """[N, nz]: KL(q(z|x) || p(z)) per unit, summing over units to the whole KL; differentiable."""

    def mean(self, loc: Tensor, scale: Tensor) -> Tensor:
        """[N, nz]: E_q[z|x], what `active_units` reads."""


class DiagonalGaussian:
    """q(z|x) = N(mu, diag e^logvar) with p(z) = N(0, I): (loc, scale) = (mu, logvar)."""

    name = "gaussian"

    def check(self, loc: Tensor, scale: Tensor) -> None:
        _check_posterior(loc, scale)

    def sample(self, loc: Tensor, scale: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
        return sample_posterior(loc, scale, n, generator)

    def log_density(self, z: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
        return log_normal(z, loc, scale)

    def log_density_pairwise(self, z: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
        return log_normal_pairwise(z, loc, scale)

    def expected_log_density(self, loc: Tensor, scale: Tensor) -> Tensor:
        return -0.5 * loc.shape[-1] * _LOG_2PI - 0.5 * (1 + scale).sum(-1)

    def log_prior(self, z: Tensor) -> Tensor:
        zero = z.new_zeros(())
        return log_normal(z, zero, zero)

    def sample_prior(self, count: int, dim: int, generator: torch.Generator | None) -> Tensor:
        return torch.randn(count, dim, generator=generator)

    @property
    def prior_name(self) -> str:
        return "N(0, I)"

    def kl_per_dim(self, loc: Tensor, scale: Tensor) -> Tensor:
        return gaussian_kl_per_dim(loc, scale)

    def mean(self, loc: Tensor, scale: Tensor) -> Tensor:
        return loc


GAUSSIAN = DiagonalGaussian()


def iw_log_marginal(
    mu: Tensor,
    logvar: Tensor,
    log_likelihood: Callable[[Tensor], Tensor],
    k: int,
    chunk: int,
    generator: torch.Generator,
    *,
    family: PosteriorFamily = GAUSSIAN,
) -> Tensor:
    """Importance-weighted estimate of log p(x) per example, in nats (Burda et al. 2016).

    log p(x) ~= logsumexp_{s=1..k} [log p(z_s) + log p(x|z_s) - log q(z_s|x)] - log k,
    z_s ~ q(z|x), p(z) = N(0, I) (or `family`'s posterior and prior).

    A lower bound in expectation (Jensen) that tightens as k grows; exact for
    any k when q(z|x) is the true posterior. The reported NLL is
    -mean(log p(x)) per sentence (k = 500 in He et al. 2019).

    The k samples are drawn `chunk` at a time (the last chunk may be
    smaller) and merged with a running logsumexp, so memory is
    O(N * chunk * nz). Thanks to `sample_posterior`'s stream layout (every
    family's `sample` keeps it) the
    samples, and so the estimate, do not depend on `chunk` (up to float
    rounding in the merge). `log_likelihood` runs in `mu`'s dtype; the
    weights and their logsumexp are formed in float64, because log p(x|z)
    of a sentence is hundreds of nats and float32 would lose ~1e-5 of that
    in every weight.

    Args:
        mu: posterior means, shape [N, nz].
        logvar: posterior log-variances, shape [N, nz].
        log_likelihood: maps z of shape [N, s, nz] (example i's own samples in
            row i) to log p(x_i | z_is), shape [N, s]. Decoder in eval mode.
        k: importance samples per example.
        chunk: samples drawn per call of `log_likelihood`.
        generator: source of the noise.
        family: the posterior family (`mu`, `logvar` are its parameters) and prior.

    Returns:
        Estimates of log p(x), shape [N], float64.
    """
    family.check(mu, logvar)
    _check_positive("k", k)
    _check_positive("chunk", chunk)
    n_examples = mu.shape[0]
    with torch.no_grad():
        mu64, logvar64 = mu.double().unsqueeze(1), logvar.double().unsqueeze(1)
        total = torch.full((n_examples,), -math.inf, dtype=torch.float64, device=mu.device)
        for start in range(0, k, chunk):
            size = min(chunk, k - start)
            z = family.sample(mu, logvar, size, generator)
            log_px_z = log_likelihood(z)
            if log_px_z.shape != (n_examples, size):
                raise ValueError(
                    f"Expected log_likelihood to return shape [N, s] = [{n_examples}, {size}] "
                    f"but got {list(log_px_z.shape)}"
                )
            z64 = z.double()
            log_w = family.log_prior(z64) + log_px_z.double() - family.log_density(z64, mu64, logvar64)
            total = torch.logaddexp(total, torch.logsumexp(log_w, dim=1))
        return total - math.log(k)


def mutual_info(
    mu: Tensor,
    logvar: Tensor,
    generator: torch.Generator,
    chunk: int = 1024,
    *,
    analytic_entropy: bool = False,
    family: PosteriorFamily = GAUSSIAN,
) -> float:
    """Mutual information I_q(x; z) with the whole set as aggregate posterior, in nats.

    I = E_x[KL(q(z|x) || p(z))] - KL(q(z) || p(z)) = E_x E_q(z|x)[log q(z|x) - log q(z)]
    (Hoffman & Johnson 2016; He et al. 2019, Eq. 5), estimated as

        I ~= mean_i[log q(z_i|x_i) - log q(z_i)],    z_i ~ q(z|x_i), one sample each,
        log q(z_i) = logsumexp_j log N(z_i; mu_j, diag e^logvar_j) - log N,

    with q(z) the mixture of all N posteriors (the whole-set variant, Li et al.
    2019, arXiv:1909.00868, of He et al.'s per-batch estimator, see
    `mutual_info_batched`).

    Both terms are evaluated at the same sample z_i. He et al.'s code uses the
    analytic negative entropy for the first term instead; that has the same
    expectation, but on a collapsed model (every posterior equal) it scatters
    around 0 with standard deviation about sqrt(nz / (2 N)) (0.065 nats at
    N = 3761, nz = 32), while with the shared sample the two terms cancel and
    the estimate is exactly 0. Collapse is what this harness measures, so the
    shared sample is used.

    The estimate depends on N: its ceiling is log N (reached when posteriors
    are narrow and far apart). It can come out slightly negative and is never
    clipped, unlike an exact plug-in MI such as sklearn's `mutual_info_score`.

    The N x N pairwise densities are formed `chunk` rows at a time with
    `log_normal_pairwise`, in float64: memory O(chunk * N + N * nz).

    Args:
        mu: posterior means, shape [N, nz].
        logvar: posterior log-variances, shape [N, nz].
        generator: source of the one sample per posterior.
        chunk: rows of the pairwise matrix per step.
        analytic_entropy: first term from the closed-form entropy of each
            q(z|x), as He et al.'s code, instead of at the sample.
        family: the posterior family (`mu`, `logvar` are its parameters); the
            mixture is of its N members.

    Returns:
        The estimate, in nats.

    Example:
        >>> far = 100.0 * torch.arange(8.0).repeat(2, 1).T       # 8 distinct posteriors
        >>> narrow = torch.full((8, 2), -10.0)
        >>> mi = mutual_info(far, narrow, torch.Generator().manual_seed(0))
        >>> abs(mi - math.log(8)) < 1.0
        True
    """
    family.check(mu, logvar)
    _check_positive("chunk", chunk)
    n_points = mu.shape[0]
    if n_points == 0:
        raise ValueError("Expected at least one posterior but got N = 0")
    with torch.no_grad():
        mu, logvar = mu.double(), logvar.double()
        z = family.sample(mu, logvar, 1, generator).squeeze(1)
        if analytic_entropy:
            log_q_own = family.expected_log_density(mu, logvar).mean()
        else:
            log_q_own = family.log_density(z, mu, logvar).mean()
        log_qz_sum = sum(
            torch.logsumexp(family.log_density_pairwise(z[start : start + chunk], mu, logvar), dim=1).sum()
            for start in range(0, n_points, chunk)
        )
        mean_log_qz = log_qz_sum / n_points - math.log(n_points)
        return float(log_q_own - mean_log_qz)


def mutual_info_batched(
    mu: Tensor,
    logvar: Tensor,
    batch_size: int | list[int],
    generator: torch.Generator,
    *,
    analytic_entropy: bool = False,
    family: PosteriorFamily = GAUSSIAN,
) -> float:
    """He et al.'s per-batch mutual information estimate, in nats.

    The set is cut into consecutive batches of `batch_size` (the last may be
    smaller), or of the sizes listed (their batches of one sentence length);
    `mutual_info` is computed for each with that batch as the aggregate
    posterior, and the results are averaged weighted by batch size, as in He
    et al. 2019's code (arXiv:1901.05534).

    Each batch's estimate has ceiling about log(batch_size) (3.47 nats at 32)
    and Monte Carlo scatter about sqrt(nz / (2 * batch_size)), so prefer the
    whole-set `mutual_info`; this one is kept to compare with the papers.

    Args:
        mu: posterior means, shape [N, nz], in evaluation order.
        logvar: posterior log-variances, shape [N, nz].
        batch_size: points per aggregate posterior, or each batch's number of points in order (summing to N).
        generator: source of the one sample per posterior.
        analytic_entropy: as in `mutual_info`; True is He et al.'s exact estimator.
        family: as in `mutual_info`.

    Returns:
        The estimate, in nats.
    """
    family.check(mu, logvar)
    sizes = [batch_size] if isinstance(batch_size, int) else batch_size
    for size in sizes:
        _check_positive("batch_size", size)
    n_points = mu.shape[0]
    if n_points == 0:
        raise ValueError("Expected at least one posterior but got N = 0")
    if not isinstance(batch_size, int) and sum(batch_size) != n_points:
        raise ValueError(f"Expected batch sizes summing to N = {n_points} but got {sum(batch_size)}")
    weighted = sum(
        len(batch_mu) * mutual_info(batch_mu, batch_logvar, generator, analytic_entropy=analytic_entropy,
                                    family=family)
        for batch_mu, batch_logvar in zip(
            mu.split(batch_size), logvar.split(batch_size), strict=True
        )
    )
    return weighted / n_points


def unit_variances(mu: Tensor) -> Tensor:
    """Variance over x of each unit's posterior mean, unbiased (divisor N - 1).

    Var_x(E_q(z|x)[z_u]) per unit u, the statistic behind `active_units`.

    Args:
        mu: posterior means, shape [N, nz], N >= 2.

    Returns:
        Shape [nz], float64.

    Example:
        >>> unit_variances(torch.tensor([[0.0, 1.0], [0.0, -1.0]]))
        tensor([0., 2.], dtype=torch.float64)
    """
    if mu.ndim != 2 or mu.shape[0] < 2:
        raise ValueError(f"Expected mu of shape [N, nz] with N >= 2 but got {list(mu.shape)}")
    with torch.no_grad():
        return mu.double().var(dim=0, correction=1)


def active_units(mu: Tensor, threshold: float = 0.01) -> int:
    """Count latent units whose posterior mean varies with x.

    AU = #{u : Var_x(E_q(z|x)[z_u]) >= threshold}   (Burda et al. 2016; He et al. 2019)

    A unit whose mean ignores x carries no information about x: a
    sampling-free collapse check. The variance is unbiased (`unit_variances`)
    and the comparison is `>=`, as in He et al.'s code; a unit exactly at the
    threshold counts as active.

    Args:
        mu: posterior means over the evaluation set, shape [N, nz], N >= 2.
        threshold: minimum variance of an active unit (0.01 in the papers).

    Returns:
        The number of active units, 0 to nz.

    Example:
        >>> active_units(torch.zeros(100, 8))
        0
        >>> active_units(torch.tensor([[0.0, 1.0], [0.0, -1.0]]))
        1
    """
    return int((unit_variances(mu) >= threshold).sum())


def perplexity(total_nll: float, total_words: int) -> float:
    """Per-word perplexity, PPL = exp(total_nll / total_words).

    `total_nll` is the summed -log p(x) over sentences, in nats;
    `total_words` counts tokens plus one end-of-sentence per sentence.

    Example:
        >>> perplexity(0.0, 12)
        1.0
        >>> round(perplexity(20 * math.log(50.0), 20), 6)
        50.0
    """
    if total_words < 1:
        raise ValueError(f"Expected total_words >= 1 but got {total_words}")
    return math.exp(total_nll / total_words)
