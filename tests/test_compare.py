"""`collapse-bench compare`: pairing by cell and seed, paired tests, what is left apart, bad input.

Two hand-written stores of the synthetic dataset (config.json from the real
config resolution, metrics.json with chosen values), B made "after a change":
every run id differs (eval.iw_samples 50 -> 100) and kl-annealing's spec
moved, yet the cells pair. kl-annealing's NLL drops by 1 nat on every seed;
`none` is unchanged. One tiny trained suite run twice checks the same on
stores the harness writes.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats
from statsmodels.stats.multitest import multipletests

from bench import store
from bench.cli import cli
from bench.errors import ConfigError
from bench.report.compare import StoreComparison, compare_stores, pair_runs
from bench.report.render import markdown_table
from bench.report.runs_frame import load_runs
from bench.report.stats import paired_t
from bench.scheduler import run_suite
from bench.single_run import resolve
from bench.suite import load_suite

NOISE = (0.01, -0.02, 0.015, -0.005, 0.0)  # per seed, so a difference varies a little over seeds
NLL = {"none": 61.0, "kl-annealing": 60.8, "beta(beta=0.4)": 60.5, "free-bits(lam=0.5)": 60.6}
BEFORE = {"eval.iw_samples": 50}
AFTER = {"eval.iw_samples": 100}


def write_run(suite: Path, remedy: str, seed: int, nll: float, overrides: dict, failed: bool = False) -> str:
    """One run of the synthetic dataset in `suite`: its config as the harness resolves it, chosen metrics."""
    run = resolve("synthetic", remedy, seed, overrides)
    cfg = run.config
    folder = suite / "runs" / cfg.run_id()
    store.write_json(folder / store.CONFIG, run.record())
    base = {"dataset": "synthetic", "remedy": cfg.remedy, "seed": seed, "run_id": cfg.run_id()}
    if failed:
        store.write_json(folder / store.METRICS, {**base, "status": "failed",
                                                  "reason": "Diverged: non-finite loss nan at step 12"})
        return cfg.run_id()
    kl = 0.4 + NOISE[seed]
    test = {"nll": nll, "ppl": math.exp(nll / 11), "kl": kl, "mi": kl / 2, "au": 1, "elbo": -(nll + 1.0),
            "elbo_rec": nll - kl + 1.0, "iw_samples": overrides["eval.iw_samples"], "n_sentences": 500,
            "n_words": 5500, "mi_estimator": "whole"}
    store.write_json(folder / store.METRICS, {**base, "status": "finished", "test": test})
    return cfg.run_id()


def write_before(root: Path) -> Path:
    """A: none on seeds 0-3, kl-annealing on 0-3 (seed 4 failed), beta on 0-1."""
    suite = root / "before"
    for seed in range(4):
        write_run(suite, "none", seed, NLL["none"] + NOISE[seed], BEFORE)
        write_run(suite, "kl-annealing", seed, NLL["kl-annealing"] + NOISE[seed], BEFORE)
    write_run(suite, "kl-annealing", 4, 0.0, BEFORE, failed=True)
    for seed in range(2):
        write_run(suite, "beta(beta=0.4)", seed, NLL["beta(beta=0.4)"] + NOISE[seed], BEFORE)
    return suite


def write_after(root: Path) -> Path:
    """B: none unchanged on seeds 0-2; kl-annealing(epochs=5) 1 nat better on 0-4; free-bits on 0-1."""
    suite = root / "after"
    for seed in range(3):
        write_run(suite, "none", seed, NLL["none"] + NOISE[seed], AFTER)
    for seed in range(5):
        write_run(suite, "kl-annealing(epochs=5)", seed, NLL["kl-annealing"] - 1.0 + 2 * NOISE[seed], AFTER)
    for seed in range(2):
        write_run(suite, "free-bits(lam=0.5)", seed, NLL["free-bits(lam=0.5)"] + NOISE[seed], AFTER)
    return suite


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("stores")
    return write_before(root), write_after(root)


@pytest.fixture(scope="module")
def compared(stores: tuple[Path, Path]) -> StoreComparison:
    return compare_stores(*stores)


def row(tests: pd.DataFrame, remedy: str, metric: str) -> pd.Series:
    found = tests[(tests["remedy_label"] == remedy) & (tests["metric"] == metric)]
    assert len(found) == 1
    return found.iloc[0]


class TestPairedT:
    A, B = [1.0, 2.0, 4.0, 3.5], [1.5, 2.2, 4.9, 3.6]

    def test_matches_scipy(self):
        result = paired_t(self.A, self.B)
        expected = stats.ttest_rel(self.B, self.A)
        assert result.t == pytest.approx(expected.statistic) and result.p == pytest.approx(expected.pvalue)
        assert result.df == 3 and result.diff == pytest.approx(np.mean(self.B) - np.mean(self.A))
        half = stats.t.ppf(0.975, 3) * stats.sem(np.subtract(self.B, self.A))
        assert (result.low, result.high) == pytest.approx((result.diff - half, result.diff + half))

    def test_a_pair_with_a_missing_side_is_dropped(self):
        result = paired_t([*self.A, math.nan], [*self.B, 9.0])
        assert result.n == 4 and result.p == pytest.approx(paired_t(self.A, self.B).p)

    def test_degenerate_inputs_say_why_and_have_no_p(self):
        assert "n < 2 pairs" in paired_t([1.0], [2.0]).reason
        unchanged = paired_t(self.A, self.A)
        assert unchanged.diff == 0 and "no difference on any seed" in unchanged.reason
        shifted = paired_t(self.A, np.add(self.A, 1.0))
        assert shifted.diff == pytest.approx(1.0) and "same difference" in shifted.reason
        assert all(math.isnan(r.p) for r in (unchanged, shifted))


class TestPairing:
    def test_runs_pair_by_cell_remedy_label_and_seed_not_by_run_id(self, stores):
        pairs = pair_runs(load_runs(stores[0]), load_runs(stores[1]))
        assert sorted(pairs.groupby("remedy_label")["seed"].apply(list).items()) == [
            ("kl-annealing", [0, 1, 2, 3]), ("none", [0, 1, 2])]
        assert not set(pairs["run_id_a"]) & set(pairs["run_id_b"])

    def test_what_changed_between_the_pairs_is_listed(self, compared):
        changes = compared.changes.set_index("key")
        assert changes.loc["eval.iw_samples", ["a", "b", "pairs"]].tolist() == ["50", "100", 7]
        remedy = changes.loc["remedy"]
        assert remedy["a"].startswith("kl-annealing(epochs=10") and remedy["pairs"] == 4
        assert remedy["b"].startswith("kl-annealing(epochs=5")

    def test_cells_of_one_store_and_runs_without_a_partner_are_listed_apart(self, compared):
        result = compared
        assert result.only_a[["remedy_label", "runs"]].values.tolist() == [["beta", 2]]
        assert result.only_b[["remedy_label", "runs"]].values.tolist() == [["free-bits", 2]]
        left = {(r.side, r.remedy_label, r.seed): r.why for r in result.left_out.itertuples()}
        assert left == {
            ("A", "none", 3): "no single finished run of this seed in B",
            ("A", "kl-annealing", 4): "failed: Diverged: non-finite loss nan at step 12",
            ("B", "kl-annealing", 4): "no single finished run of this seed in A",
        }

    def test_twin_and_unfinished_runs_are_left_out_with_their_reason(self, stores, tmp_path):
        copy = tmp_path / "before"
        shutil.copytree(stores[0], copy)
        runs = load_runs(copy)
        folder = {seed: copy / "runs" / run_id for seed, run_id in
                  runs.loc[runs["remedy_label"] == "none", ["seed", "run_id"]].values}
        shutil.copytree(folder[0], copy / "runs" / "twin")  # seed 0 of none twice
        (folder[2] / store.METRICS).unlink()  # seed 2 of none not finished yet
        left = compare_stores(copy, stores[1]).left_out
        none = left[left["remedy_label"] == "none"]
        assert sorted(zip(none["side"], none["seed"], none["why"], strict=True)) == [
            ("A", 0, "two finished runs of this cell and seed in A"),
            ("A", 0, "two finished runs of this cell and seed in A"),
            ("A", 2, "unfinished (no metrics.json yet)"),
            ("A", 3, "no single finished run of this seed in B"),
            ("B", 0, "no single finished run of this seed in A"),
            ("B", 2, "no single finished run of this seed in A"),
        ]


class TestTests:
    def test_a_known_difference_is_significant_and_matches_scipy_and_holm(self, compared):
        tests = compared.tests
        better = row(tests, "kl-annealing", "nll")
        a = [NLL["kl-annealing"] + NOISE[seed] for seed in range(4)]
        b = [NLL["kl-annealing"] - 1.0 + 2 * NOISE[seed] for seed in range(4)]
        assert better["n"] == 4 and better["diff"] == pytest.approx(-1.0 + np.mean(NOISE[:4]))
        assert better["p"] == pytest.approx(stats.ttest_rel(b, a).pvalue)
        nll = tests[tests["metric"] == "nll"]
        testable = nll[nll["p"].notna()]
        np.testing.assert_allclose(testable["p_holm"], multipletests(testable["p"], method="holm")[1])
        assert better["significant"] and better["p_holm"] < 0.001

    def test_unchanged_metrics_have_zero_difference_and_are_not_significant(self, compared):
        tests = compared.tests
        assert row(tests, "none", "nll")["diff"] == 0 and row(tests, "kl-annealing", "kl")["diff"] == 0
        assert tests["significant"].sum() == 3  # kl-annealing's nll, ppl and elbo

    def test_a_store_against_itself_differs_nowhere(self, stores):
        result = compare_stores(stores[0], stores[0])
        assert (result.tests["diff"] == 0).all() and not result.tests["significant"].any()
        assert result.tests["note"].str.contains("no difference on any seed").all()
        assert result.changes.empty and result.only_a.empty and result.only_b.empty
        assert set(result.left_out["why"].str[:7]) == {"failed:"}

    def test_metric_restricts_and_an_unknown_one_is_named(self, stores):
        assert set(compare_stores(*stores, ["kl", "nll"]).tests["metric"]) == {"kl", "nll"}
        with pytest.raises(ConfigError, match=r"unknown metric 'nl'\. Did you mean 'nll'"):
            compare_stores(*stores, ["nl"])


def test_an_aligned_markdown_table_pads_every_column():
    rows = [["none", "3"], ["kl-annealing", "12"]]
    lines = markdown_table(["remedy", "n"], rows, [False, True], aligned=True).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[1] == "|:-------------|---:|" and lines[3] == "| kl-annealing | 12 |"


class TestCommand:
    def test_prints_the_table_and_writes_markdown_and_csv(self, stores, tmp_path):
        md, csv = tmp_path / "compare.md", tmp_path / "compare.csv"
        args = ["compare", *map(str, stores), "--markdown", str(md), "--csv", str(csv)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        line = next(line for line in result.output.splitlines() if line.startswith("| kl-annealing | nll"))
        assert "-1.00" in line and line.rstrip(" |").endswith("*")
        for needed in ("## synthetic", "Cells only in A", "Cells only in B", "Runs left out of the pairing",
                       "What differs between paired runs", "3 of 12 comparisons significant"):
            assert needed in result.output, needed
        assert md.read_text() in result.output
        table = pd.read_csv(csv)
        assert len(table) == 12 and table["significant"].sum() == 3

    @pytest.mark.parametrize("case", ["missing", "empty", "disjoint"])
    def test_bad_input_is_one_line_exit_2_and_writes_nothing(self, stores, tmp_path, case):
        empty, other = tmp_path / "empty", tmp_path / "other"
        empty.mkdir()
        write_run(other, "beta(beta=0.4)", 0, 60.0, BEFORE)
        b = {"missing": tmp_path / "nowhere", "empty": empty, "disjoint": other}[case]
        md = tmp_path / "compare.md"
        result = CliRunner().invoke(cli, ["compare", str(stores[1]), str(b), "--markdown", str(md)])
        assert result.exit_code == 2
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
        assert {"missing": "not a folder", "empty": "no runs under", "disjoint": "nothing to compare"}[case] \
            in lines[0]
        assert not md.exists()

    def test_help_says_what_it_pairs_on_and_what_the_columns_mean(self):
        text = CliRunner().invoke(cli, ["compare", "--help"]).output
        for needed in ("dataset cell, remedy and seed", "p (Holm)", "Δ (B - A)", "collapse-bench compare"):
            assert needed in text, needed


def test_two_trained_stores_pair_although_a_remedy_parameter_moved(write_suite, tmp_path):
    """The harness's own stores: word dropout's keep rate changed, so its run ids did; seeds still pair."""
    for name, keep in (("before", 0.5), ("after", 0.75)):
        suite = load_suite(write_suite(f'remedies = ["none", "word-dropout(keep={keep})"]\nseeds = [0, 1]',
                                       name=name))
        run_suite(suite, tmp_path / "out", backend="sequential", progress=False)
    result = compare_stores(tmp_path / "out" / "before", tmp_path / "out" / "after", ["nll"])
    assert result.tests[["remedy_label", "n"]].values.tolist() == [["none", 2], ["word-dropout", 2]]
    assert result.changes[["key", "pairs"]].values.tolist() == [["remedy", 2]]
    assert row(result.tests, "word-dropout", "nll")["diff"] != 0
