"""The statistics a report states: t-based confidence intervals, Welch's and the paired t-test, Holm,
Hedges' g; for the verdicts, Wilson intervals of escape rates, Fisher's exact test, bootstrap intervals
of differences, and two one-sided tests (TOST) of equivalence.

Seeds are few (3-5 per cell), so every interval uses the t distribution, not
a normal approximation or a bootstrap (a bootstrap over 3 values is not an
interval). Welch's test is used because remedies change the seed-to-seed
spread (a collapsed run barely varies, an aggressive one does), so equal
variances cannot be assumed. Degenerate inputs get an explicit reason
instead of a NaN p-value: a reader sees "not testable", never a number that
means nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

CONFIDENCE = 0.95
NOT_TESTABLE = "not testable: "  # how every reason for a missing p-value starts


@dataclass(frozen=True)
class Interval:
    """Mean of `n` values with its sample SD and two-sided t-interval (NaN where n is too small)."""

    n: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class Comparison:
    """A remedy against the baseline on one metric: difference, effect size and Welch's test.

    `reason` is set (and t, df, p are NaN) when the test cannot be made.
    """

    n: int
    n_baseline: int
    diff: float  # mean(remedy) - mean(baseline)
    hedges_g: float
    t: float
    df: float
    p: float
    reason: str = ""

    @property
    def testable(self) -> bool:
        return not self.reason


def t_half_width(
    std: np.ndarray | float, n: np.ndarray | float, confidence: float = CONFIDENCE
) -> np.ndarray:
    """Half-width of the two-sided t-interval of a mean: t_{(1+c)/2, n-1} * s / sqrt(n).

    Vectorised so the training-curve bands (one interval per step) use the
    same formula as the tables; NaN where n < 2.
    """
    std, n = np.asarray(std, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = sps.t.ppf((1 + confidence) / 2, np.where(n >= 2, n - 1, np.nan))
        return np.where(n >= 2, quantile * std / np.sqrt(n), np.nan)


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """Mean, SD (ddof = 1) and t-interval of the finite values; NaN interval for n < 2.

    >>> round(mean_ci([1.0, 2.0, 3.0]).half_width, 3)  # t_{0.975, 2} * 1 / sqrt(3)
    2.484
    """
    x = _finite(values)
    n = len(x)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n >= 2 else math.nan
    half = float(t_half_width(std, n, confidence))
    return Interval(n, mean, std, mean - half, mean + half)


def hedges_g(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Hedges' g of a versus b: the bias-corrected standardised mean difference.

    g = J(df) * (mean_a - mean_b) / s_pooled, s_pooled^2 = ((n_a-1) s_a^2 + (n_b-1) s_b^2) / df,
    df = n_a + n_b - 2, J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)) (the exact factor;
    Cohen's d overstates the effect by 1/J, about 25% at 3 seeds per side).
    NaN when df < 2 (J undefined) or both samples are constant.
    """
    x, y = _finite(a), _finite(b)
    df = len(x) + len(y) - 2
    if df < 2:
        return math.nan
    pooled = ((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / df
    if pooled == 0:
        return math.nan
    correction = math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return float(correction * (x.mean() - y.mean()) / math.sqrt(pooled))


def welch(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Comparison:
    """Welch's two-sided t-test of mean(a) = mean(b), with Hedges' g of a versus b.

    t = (mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b), df by Welch-Satterthwaite.
    Not testable (a reason instead of p) when a side has fewer than 2 values or
    both sides are constant (t is 0/0 or x/0: no spread to test against).
    """
    x, y = _finite(a), _finite(b)
    diff = float(x.mean() - y.mean()) if len(x) and len(y) else math.nan
    nan = math.nan
    if len(x) < 2 or len(y) < 2:
        reason = f"not testable: n < 2 (n = {len(x)} vs {len(y)})"
        return Comparison(len(x), len(y), diff, nan, nan, nan, nan, reason)
    se, df = _welch_se_df(x, y)
    if se == 0:
        reason = "not testable: no spread over seeds on either side"
        return Comparison(len(x), len(y), diff, nan, nan, nan, nan, reason)
    t = diff / se
    p = float(2 * sps.t.sf(abs(t), df))
    return Comparison(len(x), len(y), diff, hedges_g(x, y), float(t), float(df), p)


@dataclass(frozen=True)
class PairedDifference:
    """The same seeds (or sentences) under a and b: mean of b - a, its t-interval, the paired t-test.

    `reason` is set (and t, df, p are NaN) when the test cannot be made.
    """

    n: int  # pairs with a finite value on both sides
    mean_a: float
    mean_b: float
    diff: float  # mean(b - a) = mean_b - mean_a
    low: float
    high: float
    t: float
    df: float
    p: float
    reason: str = ""


def paired_t(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
             unit: str = "seed") -> PairedDifference:
    """Two-sided paired t-test of mean(b - a) = 0 over aligned pairs (`unit` i of a with `unit` i of b:
    a seed of two stores, a test sentence of two cells), with the t-interval of mean(b - a).

    Pairing removes the spread both sides share (seed to seed, sentence to
    sentence), which Welch's test would count as noise. A pair with a
    non-finite side is dropped. Not testable with fewer than 2 pairs, or when
    every pair differs by the same amount (zero included: an unchanged store),
    since t is then x/0. No Wilcoxon: its smallest two-sided p is 2 / 2^n,
    above 0.05 up to 5 seeds.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    nan = math.nan
    interval = mean_ci(y - x)
    means = (float(x.mean()), float(y.mean())) if len(x) else (nan, nan)
    base = (interval.n, *means, interval.mean, interval.low, interval.high)
    if interval.n < 2:
        return PairedDifference(*base, nan, nan, nan, f"{NOT_TESTABLE}n < 2 pairs (n = {interval.n})")
    if interval.std == 0:
        same = (f"no difference on any {unit}" if interval.mean == 0
                else f"the same difference on every {unit}")
        return PairedDifference(*base, nan, nan, nan, NOT_TESTABLE + same)
    df = interval.n - 1
    t = interval.mean / (interval.std / math.sqrt(interval.n))
    return PairedDifference(*base, float(t), float(df), float(2 * sps.t.sf(abs(t), df)))


@dataclass(frozen=True)
class DifferenceInterval:
    """mean(a) - mean(b) with a 95% interval and what kind of interval it is (the tables name it)."""

    diff: float
    low: float
    high: float
    kind: str  # "Welch t" or "bootstrap percentile"


def welch_interval(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                   confidence: float = CONFIDENCE) -> DifferenceInterval:
    """Interval of mean(a) - mean(b) from Welch's t (Welch-Satterthwaite df); NaN ends when a side has
    n < 2, a zero-width interval when neither side varies.

    >>> round(welch_interval([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]).low, 3)  # 2 - t_{0.975, 2} / sqrt(3)
    -0.484
    """
    x, y = _finite(a), _finite(b)
    diff = float(x.mean() - y.mean()) if len(x) and len(y) else math.nan
    if len(x) < 2 or len(y) < 2:
        return DifferenceInterval(diff, math.nan, math.nan, "Welch t")
    se, df = _welch_se_df(x, y)
    if se == 0:
        return DifferenceInterval(diff, diff, diff, "Welch t")
    half = float(sps.t.ppf((1 + confidence) / 2, df) * se)
    return DifferenceInterval(diff, diff - half, diff + half, "Welch t")


BOOTSTRAP_DRAWS = 10_000


def bootstrap_interval(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray | None = None,
                       confidence: float = CONFIDENCE, draws: int = BOOTSTRAP_DRAWS,
                       seed: int = 0) -> DifferenceInterval:
    """Percentile bootstrap interval of mean(a), or of mean(a) - mean(b), seeds resampled within each side.

    For MI and AU, which are bounded below and often bimodal over seeds (0, 0, 16 units): the interval of
    a mean stays inside the values observed, where a symmetric t-band crosses 0. Fixed `seed`, so the
    same store gives the same interval. NaN ends when a side has no value.

    >>> interval = bootstrap_interval([0.0, 0.0, 16.0])
    >>> (interval.low, interval.high)
    (0.0, 16.0)
    """
    x = _finite(a)
    y = _finite(b) if b is not None else np.zeros(0)
    if len(x) == 0 or (b is not None and len(y) == 0):
        return DifferenceInterval(math.nan, math.nan, math.nan, "bootstrap percentile")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(draws, len(x)))].mean(axis=1)
    if b is not None:
        means = means - y[rng.integers(0, len(y), size=(draws, len(y)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    diff = float(x.mean() - (y.mean() if b is not None else 0.0))
    return DifferenceInterval(diff, float(low), float(high), "bootstrap percentile")


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion (escaped runs of a cell); (NaN, NaN) for n = 0.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 of n: 0 escapes in 3
    seeds still admits an escape rate up to 56%.

    >>> [round(end, 3) for end in wilson(0, 3)]
    [0.0, 0.561]
    """
    if n == 0:
        return math.nan, math.nan
    z = float(sps.norm.ppf((1 + confidence) / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (0.0 if successes == 0 else centre - half), (1.0 if successes == n else centre + half)


def fisher_greater(successes: int, n: int, successes_other: int, n_other: int) -> float:
    """One-sided Fisher's exact p that the first escape rate exceeds the second; NaN if a side is empty.

    >>> round(fisher_greater(3, 3, 0, 3), 3)  # the smallest p three seeds a side can give
    0.05
    """
    if n == 0 or n_other == 0:
        return math.nan
    table = [[successes, n - successes], [successes_other, n_other - successes_other]]
    return float(sps.fisher_exact(table, alternative="greater")[1])


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided Welch tests of |mean(a) - mean(b)| < margin: p is the larger of the two."""

    diff: float
    margin: float
    p: float
    reason: str = ""  # set, with p NaN, when the test cannot be made


def tost(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, margin: float) -> Equivalence:
    """Schuirmann's two one-sided tests with Welch's standard error and df.

    Equivalence within the margin is shown when p < alpha; a large p says "not shown", never
    "different". Both sides constant: not testable (no spread), reported as such rather than counted.
    """
    x, y = _finite(a), _finite(b)
    diff = float(x.mean() - y.mean()) if len(x) and len(y) else math.nan
    if len(x) < 2 or len(y) < 2:
        return Equivalence(diff, margin, math.nan, f"{NOT_TESTABLE}n < 2 (n = {len(x)} vs {len(y)})")
    se, df = _welch_se_df(x, y)
    if se == 0:
        return Equivalence(diff, margin, math.nan, NOT_TESTABLE + "both sides constant")
    p_lower = float(sps.t.sf((diff + margin) / se, df))  # H0: diff <= -margin
    p_upper = float(sps.t.cdf((diff - margin) / se, df))  # H0: diff >= +margin
    return Equivalence(diff, margin, max(p_lower, p_upper))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment (statsmodels, method="holm"); NaN entries stay NaN and do not count.

    Controls the family-wise error rate over the comparisons given, without
    Bonferroni's loss of power.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    mask = np.isfinite(p)
    if mask.any():
        adjusted[mask] = multipletests(p[mask], method="holm")[1]
    return adjusted


def _welch_se_df(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Standard error of mean(x) - mean(y) without pooling, and its Welch-Satterthwaite degrees of
    freedom (NaN df when neither side varies, where the error is 0); both sides need n >= 2."""
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    if va + vb == 0:
        return 0.0, math.nan
    return math.sqrt(va + vb), float((va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1)))


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return x[np.isfinite(x)]
