"""The von Mises-Fisher posterior with a fixed concentration (Xu & Durrett 2018, EMNLP, arXiv:1808.10805).

q(z|x) = vMF(mu(x), kappa) on the unit sphere S^{d-1} of R^d, with density
C_d(kappa) exp(kappa mu^T z) with respect to the sphere's surface measure, and
p(z) uniform on the sphere. With kappa fixed, KL(q || p) is one constant for
every x: no member of the family is nearer the prior, so the KL cannot shrink
to 0 during training (their argument, and their code's: jiacheng-xu/vmf_vae_nlp,
NVLL/distribution/vmf_batch.py, `vMF`).

Closed forms, d = nz, nu = d/2 - 1:
    log C_d(k) = nu log k - (d/2) log(2 pi) - log I_nu(k)
    A_d(k)     = E_q[mu^T z] = I_{d/2}(k) / I_nu(k)     (mean resultant length)
    KL         = k A_d(k) + log C_d(k) + log |S^{d-1}|,  |S^{d-1}| = 2 pi^{d/2} / Gamma(d/2)

The Bessel functions come from scipy's exponentially scaled `ive` in float64
(log I_v(k) = log ive(v, k) + k), evaluated once per family: kappa is a
constant, so nothing needs their gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from scipy import special
from torch import Tensor


def log_bessel_iv(order: float, kappa: float) -> float:
    """log I_order(kappa), the modified Bessel function of the first kind, for kappa > 0."""
    scaled = float(special.ive(order, kappa))
    if not (scaled > 0 and math.isfinite(scaled)):
        raise ValueError(f"log I_{order}({kappa}) is out of float64 range (ive = {scaled})")
    return math.log(scaled) + kappa


def log_sphere_area(dim: int) -> float:
    """log of the surface area of the unit sphere S^{dim-1} in R^dim: log(2 pi^{dim/2} / Gamma(dim/2))."""
    return math.log(2.0) + dim / 2 * math.log(math.pi) - math.lgamma(dim / 2)


def log_normaliser(dim: int, kappa: float) -> float:
    """log C_d(kappa), so that C_d(kappa) exp(kappa mu^T z) integrates to 1 over S^{d-1}."""
    order = dim / 2 - 1
    return order * math.log(kappa) - dim / 2 * math.log(2 * math.pi) - log_bessel_iv(order, kappa)


def mean_resultant_length(dim: int, kappa: float) -> float:
    """A_d(kappa) = E_q[mu^T z] = I_{d/2}(kappa) / I_{d/2-1}(kappa): the length of E_q[z]."""
    return math.exp(log_bessel_iv(dim / 2, kappa) - log_bessel_iv(dim / 2 - 1, kappa))


def kl_to_uniform(dim: int, kappa: float) -> float:
    """KL(vMF(mu, kappa) || Uniform(S^{d-1})) in nats: the same for every mu.

    E_q[log q] - log(1 / |S|) = kappa A_d(kappa) + log C_d(kappa) + log |S^{d-1}|. This is the formula
    the authors' code calls "the correct KLD" (`vMF._vmf_kld_davidson`); the one it trains with
    (`vMF._vmf_kld`, after Guu et al.) differs slightly (docs/fidelity.md).
    """
    return kappa * mean_resultant_length(dim, kappa) + log_normaliser(dim, kappa) + log_sphere_area(dim)


def sample_cosines(dim: int, kappa: float, count: int, generator: torch.Generator | None,
                   device: torch.device) -> Tensor:
    """`count` draws of w = mu^T z, z ~ vMF(mu, kappa) on S^{dim-1}, by Wood's (1994) rejection sampler.

    As the authors' `vMF._sample_weight` with m = dim - 1: b = m / (sqrt(4 kappa^2 + m^2) + 2 kappa),
    x0 = (1 - b) / (1 + b), c = kappa x0 + m log(1 - x0^2); propose w = (1 - (1 + b) t) / (1 - (1 - b) t)
    with t ~ Beta(m/2, m/2) and accept when kappa w + m log(1 - x0 w) - c >= log u, u ~ U(0, 1). The
    Beta draw is (1 + g_1 / |g|) / 2 for g ~ N(0, I_dim) (the first coordinate of a uniform point on
    S^{dim-1}), so every draw comes from `generator`. Rounds repeat on the rejected draws alone: the
    stream this uses depends only on `count` and the stream itself. Float64.
    """
    m = dim - 1
    b = m / (math.sqrt(4 * kappa**2 + m**2) + 2 * kappa)
    x0 = (1 - b) / (1 + b)
    c = kappa * x0 + m * math.log(1 - x0**2)
    out = torch.empty(count, dtype=torch.float64, device=device)
    pending = torch.arange(count, device=device)
    while pending.numel():
        g = torch.randn(pending.numel(), dim, generator=generator, dtype=torch.float64, device=device)
        t = (1 + g[:, 0] / g.norm(dim=1)) / 2
        u = torch.rand(pending.numel(), generator=generator, dtype=torch.float64, device=device)
        w = (1 - (1 + b) * t) / (1 - (1 - b) * t)
        accept = kappa * w + m * torch.log(1 - x0 * w) - c >= torch.log(u)
        out[pending[accept]] = w[accept]
        pending = pending[~accept]
    return out


def sample_vmf(mu: Tensor, kappa: float, n: int, generator: torch.Generator | None) -> Tensor:
    """n draws z ~ vMF(mu_i, kappa) for each unit row mu_i: mu [N, d] -> [N, n, d], dtype and device of mu.

    z = w mu + sqrt(1 - w^2) v, w from `sample_cosines`, v the normalised part of a N(0, I) draw
    orthogonal to mu: the authors' `vMF.sample_cell` (w carries no gradient; z does, through mu).
    Sample s is its own block of the stream (its w, then its v), in order s = 0, 1, ..., so n = a + b
    at once equals a and then b, as `bench.metrics.sample_posterior`. The draws are made on the
    generator's device (mu's when None) and moved to mu's.
    """
    if n < 1:
        raise ValueError(f"Expected n >= 1 but got {n}")
    count, dim = mu.shape
    device = generator.device if generator is not None else mu.device
    draws = []
    for _ in range(n):
        w = sample_cosines(dim, kappa, count, generator, device).to(mu)
        v = torch.randn(count, dim, generator=generator, dtype=torch.float64, device=device).to(mu)
        tangent = v - (v * mu).sum(-1, keepdim=True) * mu
        tangent = tangent / tangent.norm(dim=-1, keepdim=True)
        draws.append(w.unsqueeze(-1) * mu + torch.sqrt(1 - w**2).unsqueeze(-1) * tangent)
    return torch.stack(draws, dim=1)


@dataclass(frozen=True)
class VonMisesFisher:
    """q(z|x) = vMF(loc, kappa) on S^{dim-1}, p(z) uniform on it: a `bench.metrics.PosteriorFamily`.

    `loc` [N, dim] is the unit mean direction; `scale` is [N, 0]: with kappa fixed there is no other
    per-sentence parameter.
    """

    dim: int
    kappa: float
    name = "vmf"

    def __post_init__(self) -> None:
        if self.dim < 2 or self.kappa <= 0:
            raise ValueError(f"vMF needs dim >= 2 and kappa > 0, got dim {self.dim}, kappa {self.kappa}")

    @cached_property
    def log_c(self) -> float:
        return log_normaliser(self.dim, self.kappa)

    @cached_property
    def mean_length(self) -> float:
        return mean_resultant_length(self.dim, self.kappa)

    @cached_property
    def kl(self) -> float:
        return kl_to_uniform(self.dim, self.kappa)

    def check(self, loc: Tensor, scale: Tensor) -> None:
        if loc.ndim != 2 or loc.shape[1] != self.dim or scale.shape != (loc.shape[0], 0):
            raise ValueError(f"Expected vMF parameters loc [N, {self.dim}] and scale [N, 0] but got "
                             f"{list(loc.shape)} and {list(scale.shape)}")

    def sample(self, loc: Tensor, scale: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
        self.check(loc, scale)
        return sample_vmf(loc, self.kappa, n, generator)

    def log_density(self, z: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
        return self.log_c + self.kappa * (z * loc).sum(-1)

    def log_density_pairwise(self, z: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
        return self.log_c + self.kappa * (z @ loc.T)

    def expected_log_density(self, loc: Tensor, scale: Tensor) -> Tensor:
        return loc.new_full(loc.shape[:1], self.log_c + self.kappa * self.mean_length)

    def log_prior(self, z: Tensor) -> Tensor:
        return z.new_full(z.shape[:-1], -log_sphere_area(self.dim))

    def sample_prior(self, count: int, dim: int, generator: torch.Generator | None) -> Tensor:
        """Uniform on S^{dim-1}: a N(0, I) draw scaled to length 1 (its direction is uniform)."""
        if dim != self.dim:
            raise ValueError(f"this vMF family lives on S^{self.dim - 1}, not in R^{dim}")
        draws = torch.randn(count, dim, generator=generator)
        return draws / draws.norm(dim=1, keepdim=True)

    @property
    def prior_name(self) -> str:
        return f"uniform on the sphere S^{self.dim - 1}"

    def kl_per_dim(self, loc: Tensor, scale: Tensor) -> Tensor:
        """The constant KL spread evenly over the units (it is not a sum over units); no gradient."""
        return loc.new_full(loc.shape, self.kl / self.dim)

    def mean(self, loc: Tensor, scale: Tensor) -> Tensor:
        return self.mean_length * loc
