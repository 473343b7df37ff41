"""bench.report.stats against scipy and statsmodels, and the degenerate cases a report must name."""

import doctest
import math

import numpy as np
import pytest
from scipy import special, stats
from statsmodels.stats.multitest import multipletests

from bench.report import stats as report_stats
from bench.report.stats import hedges_g, holm, mean_ci, t_half_width, welch

A = [60.1, 60.4, 59.8, 60.0]
B = [61.2, 60.9, 61.5]


def test_docstring_examples():
    assert doctest.testmod(report_stats).failed == 0


class TestMeanCI:
    def test_matches_scipy_t_interval(self):
        low, high = stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=stats.sem(A))
        interval = mean_ci(A)
        assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))
        assert interval.std == pytest.approx(np.std(A, ddof=1)) and interval.n == 4

    def test_one_value_has_a_mean_and_no_interval(self):
        interval = mean_ci([3.0])
        assert interval.mean == 3.0 and math.isnan(interval.low) and math.isnan(interval.std)

    def test_no_values_and_nans_are_dropped(self):
        assert mean_ci([]).n == 0 and math.isnan(mean_ci([]).mean)
        assert mean_ci([1.0, float("nan"), 3.0]).n == 2

    def test_vectorised_half_width_equals_the_scalar_one(self):
        half = t_half_width(np.array([1.0, 2.0, 1.0]), np.array([3, 5, 1]))
        assert half[0] == pytest.approx(mean_ci([0.0, 1.0, 2.0]).half_width)
        assert half[1] == pytest.approx(stats.t.ppf(0.975, 4) * 2 / math.sqrt(5)) and math.isnan(half[2])


class TestWelch:
    def test_matches_scipy(self):
        result = welch(A, B)
        expected = stats.ttest_ind(A, B, equal_var=False)
        assert result.t == pytest.approx(expected.statistic) and result.p == pytest.approx(expected.pvalue)
        assert result.df == pytest.approx(expected.df)
        assert result.diff == pytest.approx(np.mean(A) - np.mean(B)) and result.testable

    def test_fewer_than_two_values_is_not_testable(self):
        result = welch([1.0], B)
        assert not result.testable and "n < 2" in result.reason and math.isnan(result.p)
        assert result.diff == pytest.approx(1.0 - np.mean(B))

    def test_no_spread_on_either_side_is_not_testable(self):
        result = welch([0.0, 0.0, 0.0], [2.0, 2.0])
        assert not result.testable and "no spread" in result.reason and math.isnan(result.p)

    def test_one_constant_side_is_still_a_test(self):
        result = welch([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
        assert result.p == pytest.approx(stats.ttest_ind([0, 0, 0], [1, 2, 3], equal_var=False).pvalue)


class TestHedgesG:
    def test_exact_correction_at_three_seeds_per_side(self):
        a, b = [1.0, 2.0, 3.0], [3.0, 4.0, 5.0]  # pooled SD 1, Cohen's d = -2, df = 4
        correction = special.gamma(2) / (math.sqrt(2) * special.gamma(1.5))
        assert hedges_g(a, b) == pytest.approx(-2 * correction)
        assert correction == pytest.approx(0.7979, abs=1e-4)

    def test_approaches_the_usual_approximation_for_large_samples(self):
        rng = np.random.default_rng(0)
        a, b = rng.normal(0.5, 1, 200), rng.normal(0, 1, 300)
        pooled = math.sqrt((199 * a.var(ddof=1) + 299 * b.var(ddof=1)) / 498)
        approx = (1 - 3 / (4 * 498 - 1)) * (a.mean() - b.mean()) / pooled
        assert hedges_g(a, b) == pytest.approx(approx, rel=1e-5)

    def test_undefined_cases_are_nan(self):
        assert math.isnan(hedges_g([1.0], [2.0, 3.0]))
        assert math.isnan(hedges_g([1.0, 1.0], [1.0, 1.0]))


class TestHolm:
    def test_matches_statsmodels(self):
        p = [0.01, 0.04, 0.03, 0.2]
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])

    def test_step_down_by_hand(self):
        # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
        np.testing.assert_allclose(holm([0.04, 0.01, 0.03]), [0.06, 0.03, 0.06])

    def test_untestable_entries_stay_out_of_the_family(self):
        adjusted = holm([0.01, float("nan"), 0.04])
        np.testing.assert_allclose(adjusted[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])
        assert math.isnan(adjusted[1])
