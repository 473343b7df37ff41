"""When a run's latent z counts as used ("escaped" collapse): the written rule, and its null threshold.

A run escapes when both hold on its test metrics:

- its MI exceeds the **inactive-encoder null**: the 99th percentile of the
  harness's own MI estimator (`bench.metrics.mutual_info`, the whole set as
  aggregate posterior) over `NULL_DRAWS` simulated encoders that carry no
  more about x than an encoder whose every unit the AU rule calls inactive:
  N prior-width posteriors N(m_i, I) whose means scatter around 0 with
  variance `AU_THRESHOLD` in each of nz units, independently of x. N and nz
  are the run's own (evaluation-set size, latent size), since the estimator's
  level and spread depend on both. A run with a vMF posterior of concentration
  kappa (`model.posterior = "vmf"`) gets the same null in its own family:
  posteriors vMF(m_i, kappa) whose means E[z|x] = A_d(kappa) m_i scatter
  around one point with variance `AU_THRESHOLD` in each unit across it
  (`vmf_null_directions`); its posteriors are as narrow as kappa makes them,
  not prior-wide, so the same scatter carries far more information;
- at least one unit is active (AU >= 1, variance of E_q[z_u|x] over x >= 0.01).

Estimating MI exactly 0 when every posterior is equal, the estimator has
no sampling null of its own; the inactive-encoder null is the largest MI
that sub-threshold scatter of the means produces, so neither test alone
decides: a unit just over the AU line with MI below the null is not an escape.

The autoencoder control (KL weight 0) is judged on its last epoch's
validation MI and AU (`control_encodes`): model selection by validation
-ELBO at KL weight 1 picks its first epoch, before it had time to encode.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import optimize
from torch import Tensor

from bench.metrics import GAUSSIAN, mutual_info
from bench.vmf import VonMisesFisher, mean_resultant_length, sample_vmf

AU_THRESHOLD = 0.01  # the AU rule's variance line (bench.metrics.active_units)
NULL_QUANTILE = 0.99
NULL_DRAWS = 100
NULL_SEED = 0


@functools.lru_cache(maxsize=64)
def mi_null_threshold(n: int, nz: int, quantile: float = NULL_QUANTILE, draws: int = NULL_DRAWS,
                      seed: int = NULL_SEED, *, vmf_kappa: float | None = None) -> float:
    """The `quantile` of the MI estimate over `draws` inactive encoders of `n` posteriors in `nz` units.

    `vmf_kappa`: the run's vMF concentration (`run_vmf_kappa`); None for a Gaussian posterior.
    Deterministic for its arguments (one seeded stream); cached, since a report asks per cell.
    O(draws * n^2 * nz): about a second a draw at n = 6,000 on one core.
    """
    if n < 2 or nz < 1:
        raise ValueError(f"the MI null needs n >= 2 and nz >= 1, got n = {n}, nz = {nz}")
    generator = torch.Generator().manual_seed(seed)
    family = GAUSSIAN if vmf_kappa is None else VonMisesFisher(nz, vmf_kappa)
    estimates = [mutual_info(*inactive_encoder(n, nz, vmf_kappa, generator), generator, family=family)
                 for _ in range(draws)]
    return float(np.quantile(estimates, quantile))


def inactive_encoder(
    n: int, nz: int, vmf_kappa: float | None, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """(loc, scale) in float64 of `n` posteriors whose means scatter at the AU line, independently of x:
    N(m_i, I) with m_i ~ N(0, AU_THRESHOLD I), or for a vMF of concentration `vmf_kappa`, vMF(m_i, kappa)
    with the directions of `vmf_null_directions`."""
    if vmf_kappa is None:
        means = torch.randn(n, nz, generator=generator, dtype=torch.float64) * math.sqrt(AU_THRESHOLD)
        return means, torch.zeros(n, nz, dtype=torch.float64)
    directions = vmf_null_directions(n, nz, vmf_kappa, generator)
    return directions, directions.new_zeros(n, 0)


def scatter_concentration(nz: int, kappa: float) -> float | None:
    """kappa_0 such that directions m ~ vMF(c, kappa_0) give E[z|x] = A_d(kappa) m a variance of exactly
    `AU_THRESHOLD` in every unit orthogonal to c; None when even uniform directions give less.

    For m ~ vMF(c, k), E[m m^T] = (A_d(k) / k) I + (1 - d A_d(k) / k) c c^T, so a unit orthogonal to c has
    variance A_d(k) / k, falling from 1 / d at k -> 0. Solved in log k by Brent's method.
    """
    target = AU_THRESHOLD / mean_resultant_length(nz, kappa) ** 2

    def excess(log_k: float) -> float:
        return mean_resultant_length(nz, math.exp(log_k)) / math.exp(log_k) - target

    low, high = math.log(1e-2), math.log(1e8)
    if excess(low) <= 0:
        return None
    return math.exp(optimize.brentq(excess, low, high, xtol=1e-12))


def vmf_null_directions(n: int, nz: int, kappa: float, generator: torch.Generator) -> Tensor:
    """[n, nz] float64 mean directions of an inactive vMF encoder: vMF(e_1, kappa_0) draws
    (`scatter_concentration`), so each unit but the first is at the AU line. Where no kappa_0 exists
    (A_d(kappa)^2 / nz <= 0.01: the units' variances of E[z|x] sum to at most A_d(kappa)^2, so no scatter
    puts them all at the line) uniform on the sphere, the largest scatter in every unit at once."""
    scatter = scatter_concentration(nz, kappa)
    if scatter is None:
        return VonMisesFisher(nz, kappa).sample_prior(n, nz, generator).double()
    centre = torch.zeros(n, nz, dtype=torch.float64)
    centre[:, 0] = 1.0
    return sample_vmf(centre, scatter, 1, generator)[:, 0]


def null_kappa(posterior: str | None, vmf_kappa: float) -> float | None:
    """The concentration that keys a run's MI null: `vmf_kappa` when its posterior is a vMF, None for a
    Gaussian one (`model.posterior` missing, as in runs stored before the setting, reads as Gaussian)."""
    return float(vmf_kappa) if posterior == "vmf" else None


def run_vmf_kappa(row: Mapping[str, Any]) -> float | None:
    """`null_kappa` of a runs-frame row."""
    return null_kappa(row.get("model.posterior"), row.get("model.vmf_kappa"))


def escapes(mi: float, au: float, threshold: float) -> bool:
    """The rule itself: MI above the null threshold and at least one active unit."""
    return bool(math.isfinite(mi) and math.isfinite(au) and mi > threshold and au >= 1)


def escape_flags(runs: pd.DataFrame) -> pd.Series:
    """Per run of the runs frame: True / False for finished runs, NaN where there is no test metric.

    The threshold is taken at each run's evaluation-set size (`n_sentences`), latent size and posterior
    family.
    """
    flags = pd.Series(np.nan, index=runs.index, dtype=object)
    usable = runs["status"].eq("finished") & runs["n_sentences"].notna() & runs["model.nz"].notna()
    for index in runs.index[usable]:
        row = runs.loc[index]
        threshold = mi_null_threshold(int(row["n_sentences"]), int(row["model.nz"]),
                                      vmf_kappa=run_vmf_kappa(row))
        flags[index] = escapes(float(row["mi"]), float(row["au"]), threshold)
    return flags


def validation_size(sentences: str | None) -> int | None:
    """The validation split's size from metrics.json's `data.sentences` ("train 8000, valid 6348, ...")."""
    for part in (sentences or "").split(","):
        name, _, count = part.strip().partition(" ")
        if name == "valid" and count.strip().isdigit():
            return int(count)
    return None


def control_encodes(row: pd.Series) -> bool | None:
    """Whether a control run's encoder carries information at its last validated epoch: the escape rule
    on that epoch's validation MI and AU, threshold at the validation size; None without that record."""
    values = [row.get(key) for key in ("valid_last_mi", "valid_last_au", "n_valid", "model.nz")]
    if row.get("status") != "finished" or any(value is None or pd.isna(value) for value in values):
        return None
    mi, au, n_valid, nz = values
    threshold = mi_null_threshold(int(n_valid), int(nz), vmf_kappa=run_vmf_kappa(row))
    return escapes(float(mi), float(au), threshold)
