"""The written verdict rules on fixed inputs: escape, intervals, tests, and each verdict's branch."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from bench.metrics import mutual_info
from bench.report.escape import control_encodes, escapes, mi_null_threshold, validation_size
from bench.report.stats import bootstrap_interval, fisher_greater, tost, welch_interval, wilson
from bench.report.verdicts import (
    INCOMPLETE,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_TESTABLE,
    PARTLY,
    PASSES,
    REPRODUCED,
    leaderboard,
    verdicts,
    with_escapes,
)

N, NZ = 60, 2  # small evaluation sets keep the null simulation fast


class TestIntervalsAndTests:
    def test_wilson_matches_the_closed_form_and_admits_high_rates_at_zero_of_three(self):
        low, high = wilson(0, 3)
        assert low == 0.0 and high == pytest.approx(0.5615, abs=1e-4)
        low, high = wilson(10, 10)
        assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)
        low, high = wilson(5, 10)
        assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
        assert all(math.isnan(end) for end in wilson(0, 0))

    def test_fisher_is_one_sided_and_three_seeds_a_side_cannot_go_below_005(self):
        assert fisher_greater(3, 3, 0, 3) == pytest.approx(0.05)
        assert fisher_greater(10, 10, 0, 10) == pytest.approx(1 / 184756)
        assert fisher_greater(0, 10, 10, 10) == pytest.approx(1.0)

    def test_welch_interval_covers_the_difference_and_names_its_kind(self):
        interval = welch_interval([1.0, 2.0, 3.0], [0.0, 0.5, 1.0])
        assert interval.diff == pytest.approx(1.5) and interval.low < 1.5 < interval.high
        assert interval.kind == "Welch t"
        assert math.isnan(welch_interval([1.0], [0.0, 1.0]).low)

    def test_bootstrap_interval_of_a_bounded_bimodal_mean_stays_within_the_values(self):
        interval = bootstrap_interval([0.0, 0.0, 16.0, 16.0, 0.0])
        assert 0.0 <= interval.low < interval.diff < interval.high <= 16.0
        assert bootstrap_interval([0.0, 0.0, 16.0]) == bootstrap_interval([0.0, 0.0, 16.0])  # seeded

    def test_tost_shows_equivalence_only_inside_the_margin(self):
        a = [1.00, 1.02, 0.98, 1.01, 0.99]
        assert tost(a, [1.01, 0.99, 1.00, 1.02, 0.98], margin=0.1).p < 0.001
        assert tost(a, [1.31, 1.29, 1.30, 1.32, 1.28], margin=0.1).p > 0.5
        assert "not testable" in tost([1.0, 1.0], [2.0, 2.0], margin=0.1).reason


class TestEscapeRule:
    def test_null_threshold_is_deterministic_and_falls_with_n(self):
        assert mi_null_threshold(N, NZ) == mi_null_threshold.__wrapped__(N, NZ)
        assert mi_null_threshold(200, NZ) < mi_null_threshold(30, NZ)

    def test_informative_posteriors_clear_the_null_and_inactive_ones_do_not(self):
        generator = torch.Generator().manual_seed(1)
        informative = mutual_info(torch.randn(N, NZ, generator=generator) * 2, torch.full((N, NZ), -2.0),
                                  generator)
        inactive = mutual_info(torch.randn(N, NZ, generator=generator) * 0.01, torch.zeros(N, NZ), generator)
        threshold = mi_null_threshold(N, NZ)
        assert informative > threshold > inactive

    def test_both_conditions_are_needed(self):
        assert escapes(0.5, 1, 0.1)
        assert not escapes(0.5, 0, 0.1)  # information without an active unit
        assert not escapes(0.05, 3, 0.1)  # active units with MI below the null
        assert not escapes(math.nan, 3, 0.1)

    def test_control_reads_the_last_epoch_and_the_validation_size(self):
        assert validation_size("train 8000, valid 6348, test 6349") == 6348
        assert validation_size(None) is None
        row = pd.Series({"status": "finished", "valid_last_mi": 2.0, "valid_last_au": 2, "n_valid": N,
                         "model.nz": NZ})
        assert control_encodes(row) is True
        assert control_encodes(pd.Series({**row, "valid_last_mi": 0.0, "valid_last_au": 0})) is False
        assert control_encodes(row.drop("valid_last_mi")) is None


def _run(remedy: str, seed: int, escaped: bool, *, nll: float = 50.0, init: str = "reference",
         condition: str = "d: SGD", status: str = "finished", control_encodes: bool = True) -> dict:
    label = remedy.split("(")[0] if "beta" not in remedy else remedy
    return {
        "run_id": f"{remedy}-{init}-{seed}", "dataset": "d", "remedy": remedy, "remedy_label": label,
        "seed": seed, "status": status, "condition": condition, "row_group": "SGD", "model.init": init,
        "model.nz": NZ, "n_sentences": N, "iw_samples": 50, "nll_iw": nll + 0.1 * seed,
        "kl": 2.0 if escaped else 0.01, "mi": 1.5 if escaped else 0.0, "au": 2 if escaped else 0,
        "valid_last_mi": 1.5 if control_encodes else 0.0, "valid_last_au": 2 if control_encodes else 0,
        "n_valid": N, "time.total_s": 60.0, "gradient_steps": 100,
    }


def _frame(*groups: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([run for group in groups for run in group])


def _cells(remedy: str, seeds: int, escaping: int, **options) -> list[dict]:
    return [_run(remedy, seed, seed < escaping, **options) for seed in range(seeds)]


def _suite_record(folder, runs: pd.DataFrame, unstarted: list[tuple[str, str, int]]) -> None:
    """suite.json planning every run of `runs` and the `unstarted` (remedy, run id, seed) cells."""
    cells = [{"dataset": "d", "remedy": r["remedy"], "label": "SGD", "run_id": r["run_id"], "seed": r["seed"]}
             for r in runs.to_dict("records")]
    cells += [{"dataset": "d", "remedy": remedy, "label": "SGD", "run_id": run_id, "seed": seed}
              for remedy, run_id, seed in unstarted]
    (folder / "suite.json").write_text(pd.Series({"cells": cells}).to_json())


def _verdict(table: pd.DataFrame, finding: str) -> pd.Series:
    return table.set_index("finding").loc[finding]


AE = "beta(beta=0.0)"


class TestVerdicts:
    def test_ten_of_ten_escapes_against_a_collapsed_control_is_reproduced(self):
        runs = _frame(_cells("none", 10, 0), _cells(AE, 10, 0),
                      _cells("aggressive+kl-annealing(epochs=5.0)", 10, 10, nll=50.3))
        table = verdicts(runs)
        row = _verdict(table, "aggressive-anneal-escapes")
        assert row["verdict"] == REPRODUCED and row["escaped"] == 10 and row["control_escaped"] == 0
        assert _verdict(table, "vae-collapses")["verdict"] == REPRODUCED
        assert _verdict(table, "autoencoder-control")["verdict"] == PASSES

    def test_an_nll_worse_by_more_than_the_margin_is_only_partly_reproduced(self):
        runs = _frame(_cells("none", 10, 0), _cells("bn-vae(gamma=0.5)", 10, 10, nll=53.0))
        row = _verdict(verdicts(runs), "bn-vae-escapes")
        assert row["verdict"] == PARTLY and row["nll_high"] > 1.0

    def test_three_seeds_a_side_cannot_reproduce_an_escape(self):
        runs = _frame(_cells("none", 3, 0), _cells("aggressive(check_every=15)", 3, 3))
        row = _verdict(verdicts(runs), "aggressive-escapes")
        assert row["verdict"] == INCONCLUSIVE and row["p_fisher_holm"] >= 0.05

    def test_a_kl_weight_remedy_that_never_escapes_is_not_testable_where_the_control_cannot_encode(self):
        collapsed = _frame(_cells("none", 10, 0), _cells(AE, 10, 0, control_encodes=False),
                           _cells("cyclical(cycles=4)", 3, 0))
        row = _verdict(verdicts(collapsed), "cyclical-escapes")
        assert row["verdict"] == NOT_TESTABLE and "not reproduced" in row["reason"]
        testable = _frame(_cells("none", 10, 0), _cells(AE, 10, 0), _cells("cyclical(cycles=4)", 3, 0))
        assert _verdict(verdicts(testable), "cyclical-escapes")["verdict"] == NOT_REPRODUCED

    def test_a_remedy_outside_the_kl_weight_is_decided_without_the_autoencoder_control(self):
        runs = _frame(_cells("none", 10, 0), _cells("aggressive(check_every=15)", 10, 1))
        assert _verdict(verdicts(runs), "aggressive-escapes")["verdict"] == NOT_REPRODUCED

    def test_an_init_changing_remedy_is_compared_with_none_at_its_init(self):
        init_control = _cells("none", 10, 10, init="pytorch-encoder", condition="d (init)")
        runs = _frame(_cells("none", 10, 0), init_control,
                      _cells("bn-vae(gamma=0.5)", 10, 10, init="pytorch-encoder"))
        row = _verdict(verdicts(runs), "bn-vae-escapes")
        assert row["control_escaped"] == 10 and row["verdict"] == INCONCLUSIVE  # the init alone escapes

    def test_fewer_runs_than_planned_is_incomplete_whatever_they_show(self, tmp_path):
        runs = _frame(_cells("none", 10, 0), _cells("aggressive(check_every=15)", 9, 9))
        _suite_record(tmp_path, runs, [("aggressive(check_every=15)", "not-started", 9)])
        row = _verdict(verdicts(runs, tmp_path), "aggressive-escapes")
        assert row["verdict"] == INCOMPLETE and row["n_planned"] == 10 and row["n_seeds"] == 9

    def test_a_failed_run_counts_as_not_escaped(self):
        runs = _frame(_cells("none", 10, 0), _cells("aggressive(check_every=15)", 9, 9),
                      [_run("aggressive(check_every=15)", 9, True, status="failed")])
        row = _verdict(verdicts(runs), "aggressive-escapes")
        assert (row["escaped"], row["n_seeds"]) == (9, 10) and row["verdict"] == REPRODUCED

    def test_word_dropout_cost_is_read_off_the_nll_interval(self):
        runs = _frame(_cells("none", 3, 0), _cells("word-dropout(keep=0.5)", 3, 0, nll=53.0))
        row = _verdict(verdicts(runs), "word-dropout-costs-nll")
        assert row["verdict"] == REPRODUCED and row["nll_low"] > 0

    def test_leaderboard_has_one_row_per_cell_with_its_intervals(self):
        runs = with_escapes(_frame(_cells("none", 3, 0), _cells("bn-vae(gamma=0.5)", 3, 2)))
        board = leaderboard(runs, verdicts(runs)).set_index("remedy_label")
        assert board.loc["bn-vae", "escaped"] == 2 and board.loc["bn-vae", "n_seeds"] == 3
        assert board.loc["bn-vae", "au_low"] >= 0 and board.loc["bn-vae", "au_high"] <= 2
        assert board.loc["none", "verdict"] == "vae-collapses: not testable at this size"  # no control

    def test_a_planned_remedy_with_no_run_yet_is_listed_as_incomplete(self, tmp_path):
        runs = _frame(_cells("none", 3, 0), _cells(AE, 3, 0))
        unstarted = [("aggressive(check_every=15)", f"a{seed}", seed) for seed in range(10)]
        _suite_record(tmp_path, runs, unstarted)
        row = _verdict(verdicts(runs, tmp_path), "aggressive-escapes")
        assert row["verdict"] == INCOMPLETE and row["row_group"] == "d: SGD"
        assert (row["n_seeds"], row["n_planned"]) == (0, 10)

    def test_a_collapse_where_nothing_can_encode_is_no_finding(self):
        runs = _frame(_cells("none", 10, 0), _cells(AE, 10, 0, control_encodes=False),
                      _cells("kl-annealing(epochs=3.0)", 3, 0))
        table = verdicts(runs)
        for finding in ("vae-collapses", "vae-anneal-collapses"):
            row = _verdict(table, finding)
            assert row["verdict"] == NOT_TESTABLE and "measured: reproduced" in row["reason"]
        testable = _frame(_cells("none", 10, 0), _cells(AE, 10, 0), _cells("kl-annealing(epochs=3.0)", 3, 0))
        assert _verdict(verdicts(testable), "vae-anneal-collapses")["verdict"] == REPRODUCED

    def test_a_planned_autoencoder_control_with_no_run_yet_leaves_its_findings_incomplete(self, tmp_path):
        runs = _frame(_cells("none", 3, 0), _cells("cyclical(cycles=4)", 3, 0))
        _suite_record(tmp_path, runs, [(AE, f"ae{seed}", seed) for seed in range(3)])
        table = verdicts(runs, tmp_path)
        row = _verdict(table, "cyclical-escapes")
        assert row["verdict"] == INCOMPLETE
        assert "autoencoder control: 0 of 3 planned seeds ran" in row["reason"]
        assert "autoencoder-control" not in set(table["finding"])
