"""When a run's latent z counts as used ("escaped" collapse): the written rule, and its null threshold.

A run escapes when both hold on its test metrics:

- its MI exceeds the **inactive-encoder null**: the 99th percentile of the
  harness's own MI estimator (`bench.metrics.mutual_info`, the whole set as
  aggregate posterior) over `NULL_DRAWS` simulated encoders that carry no
  more about x than an encoder whose every unit the AU rule calls inactive:
  N prior-width posteriors N(m_i, I) whose means scatter around 0 with
  variance `AU_THRESHOLD` in each of nz units, independently of x. N and nz
  are the run's own (evaluation-set size, latent size), since the estimator's
  level and spread depend on both;
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

import numpy as np
import pandas as pd
import torch

from bench.metrics import mutual_info

AU_THRESHOLD = 0.01  # the AU rule's variance line (bench.metrics.active_units)
NULL_QUANTILE = 0.99
NULL_DRAWS = 100
NULL_SEED = 0


@functools.lru_cache(maxsize=64)
def mi_null_threshold(n: int, nz: int, quantile: float = NULL_QUANTILE, draws: int = NULL_DRAWS,
                      seed: int = NULL_SEED) -> float:
    """The `quantile` of the MI estimate over `draws` inactive encoders of `n` posteriors in `nz` units.

    Deterministic for its arguments (one seeded stream); cached, since a report asks per cell.
    O(draws * n^2 * nz): about a second a draw at n = 6,000 on one core.
    """
    if n < 2 or nz < 1:
        raise ValueError(f"the MI null needs n >= 2 and nz >= 1, got n = {n}, nz = {nz}")
    generator = torch.Generator().manual_seed(seed)
    spread = math.sqrt(AU_THRESHOLD)
    estimates = [
        mutual_info(torch.randn(n, nz, generator=generator, dtype=torch.float64) * spread,
                    torch.zeros(n, nz, dtype=torch.float64), generator)
        for _ in range(draws)
    ]
    return float(np.quantile(estimates, quantile))


def escapes(mi: float, au: float, threshold: float) -> bool:
    """The rule itself: MI above the null threshold and at least one active unit."""
    return bool(math.isfinite(mi) and math.isfinite(au) and mi > threshold and au >= 1)


def escape_flags(runs: pd.DataFrame) -> pd.Series:
    """Per run of the runs frame: True / False for finished runs, NaN where there is no test metric.

    The threshold is taken at each run's evaluation-set size (`n_sentences`) and latent size.
    """
    flags = pd.Series(np.nan, index=runs.index, dtype=object)
    usable = runs["status"].eq("finished") & runs["n_sentences"].notna() & runs["model.nz"].notna()
    for index in runs.index[usable]:
        row = runs.loc[index]
        threshold = mi_null_threshold(int(row["n_sentences"]), int(row["model.nz"]))
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
    return escapes(float(mi), float(au), mi_null_threshold(int(n_valid), int(nz)))
