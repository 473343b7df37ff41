"""The report from a small hand-written store: every table and figure, honest counts, stable bytes.

The store is written file by file (config.json, metrics.json, curve and
posterior-mean tables) with plausible values, so no model is trained:
2 datasets x 3 remedies x 3 seeds, one failed run, one remedy with a single
seed, and two CNN decoder sizes for the receptive-field figure.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.collections import LineCollection
from scipy import stats

from bench import store
from bench.cli import cli
from bench.errors import ConfigError
from bench.report import build_report, latex, render
from bench.report.baseline import remedy_order, resolve_baseline
from bench.report.figures_bars import metric_bars
from bench.report.figures_common import MI_BELOW_ZERO
from bench.report.figures_curves import mi_au_curves
from bench.report.figures_posterior import pick_snapshots
from bench.report.figures_styles import remedy_styles
from bench.report.figures_sweeps import RECEPTIVE_FIELD, parameter_sweeps, sweep
from bench.report.labels import cell_settings
from bench.report.runs_frame import NEUTRAL, load_runs, shared_eval_files
from bench.report.summaries import METRIC, significance, summary
from bench.single_run import resolve

SYNTHETIC = {"model.nz": 1, "data.synthetic_nz": 1, "train.snapshot_every": 50, "eval.iw_samples": 50}
PTB = {"eval.iw_samples": 50}
ADAM = {**PTB, "train.optimizer": "adam", "train.lr": 0.001}
# (dataset, remedy, seeds, overrides, (nll, kl, mi, au) means, receptive field)
CELLS = [
    ("synthetic", "none", (0, 1, 2), SYNTHETIC, (61.0, 0.01, 0.00, 0.0), None),
    ("synthetic", "kl-annealing", (0, 1, 2), SYNTHETIC, (60.8, 0.40, 0.30, 1.0), None),
    ("synthetic", "aggressive+kl-annealing", (0, 1, 2), SYNTHETIC, (60.1, 1.90, 1.40, 1.0), None),
    ("ptb-small", "none", (0, 1, 2), PTB, (101.5, 0.05, 0.02, 0.0), None),
    ("ptb-small", "kl-annealing", (0, 1, 2), PTB, (101.2, 1.50, 1.10, 3.0), None),
    ("ptb-small", "aggressive", (0,), PTB, (100.9, 4.80, 3.00, 7.0), None),
    ("ptb-small", "dilated-cnn(size=small)", (0, 1), PTB, (104.0, 9.0, 3.2, 12.0), 15),
    ("ptb-small", "dilated-cnn(size=large)", (0, 1), PTB, (102.5, 3.0, 1.9, 5.0), 125),
    ("ptb-small", "word-dropout(keep=0.75)", (0, 1), PTB, (101.4, 0.8, 0.6, 2.0), None),
    ("ptb-small", "word-dropout(keep=0.25)", (0, 1), PTB, (103.0, 4.0, 2.5, 6.0), None),
]
FAILED_RUN = ("synthetic", "kl-annealing", 2)
# What a ptb-small run records it read (metrics.json "data"): valid and test are one file.
PTB_FILES = {"origin": "ptb-small", "train_path": "/data/ptb.valid.txt", "train_sha256": "a1",
             "valid_path": "/data/ptb.test.txt", "valid_sha256": "b2", "test_path": "/data/ptb.test.txt",
             "test_sha256": "b2"}
STEPS, STEPS_PER_EPOCH, SENTENCES = 300, 100, 60


def _curve(remedy: str, means: tuple, rng: np.random.Generator) -> list[dict]:
    anneal = "annealing" in remedy
    rows = []
    for step in range(STEPS):
        weight = min(1.0, 0.1 + 0.9 * step / 200) if anneal else 1.0
        kl = means[1] + (3.0 - means[1]) * math.exp(-step / 40) + abs(rng.normal(0, 0.2))
        rec = means[0] - kl + 5 * math.exp(-step / 100) + rng.normal(0, 0.5)
        row = {"step": step, "epoch": step // STEPS_PER_EPOCH, "kl_weight": weight, "rec": rec, "kl": kl,
               "elbo": -(rec + kl), "mi": math.nan, "au": math.nan}
        if step % 25 == 0:
            row.update(mi=means[2] * (1 - math.exp(-step / 60)) + rng.normal(0, 0.02),
                       au=float(round(means[3] * min(1.0, step / 150))))
        rows.append(row)
    return rows


def _snapshots(remedy: str, rng: np.random.Generator) -> list[dict]:
    """Vanilla: the encoder lags (points flat near x = 0), then both shrink to the origin;
    aggressive training follows the diagonal (He et al. 2019, Fig. 4)."""
    truth = rng.normal(0, 1.5, SENTENCES)
    steps = [(50, 0), (100, 0), (100, 0), (200, 1), (300, 2)]  # end of epoch 0 twice, as the trainer does
    rows = []
    for step, epoch in steps:
        vanilla = remedy == "none"
        shrink = math.exp(-step / 80) if vanilla else 1.0
        follow = 0.2 if vanilla else 0.95
        for sentence, value in enumerate(truth):
            model = shrink * value + rng.normal(0, 0.05)
            rows.append({"step": step, "epoch": epoch, "sentence": sentence,
                         "encoder_mean": follow * model + rng.normal(0, 0.05), "model_mean": model})
    return rows


def write_store(root: Path, cells: list[tuple] = CELLS, legacy: bool = False) -> Path:
    """A suite folder with `cells` (default: all of the above); returns it. `legacy`: config.json as
    runs stored before it recorded the remedy's parts and settings."""
    suite = root / "fixture"
    for dataset, remedy, seeds, overrides, means, field in cells:
        for seed in seeds:
            run = resolve(dataset, remedy, seed, overrides)
            cfg = run.config
            folder = suite / "runs" / cfg.run_id()
            store.write_json(folder / store.CONFIG, cfg.to_dict() if legacy else run.record())
            rng = np.random.default_rng([seed, len(remedy), len(dataset)])
            base = {"dataset": dataset, "remedy": cfg.remedy, "seed": seed, "run_id": cfg.run_id(),
                    "data": PTB_FILES if dataset == "ptb-small" else {"origin": "generated"}}
            if (dataset, remedy, seed) == FAILED_RUN:
                store.write_table(folder, store.CURVE, _curve(remedy, means, rng)[:120])
                store.write_json(folder / store.METRICS, {
                    **base, "status": "failed", "timings": {"total_s": 3.0},
                    "reason": "Diverged: non-finite loss nan at step 120, epoch 1"})
                continue
            scales = (0.2, 0.05 + 0.1 * means[1], 0.03 + 0.1 * means[2], 0)
            nll, kl, mi, au = (mean + rng.normal(0, scale) for mean, scale in zip(means, scales, strict=True))
            kl, words = abs(kl), 500 * (11 if dataset == "synthetic" else 22)  # KL >= 0; words incl. </s>
            test = {"nll": nll, "ppl": math.exp(nll * 500 / words), "kl": kl, "mi": mi, "au": int(au),
                    "mi_estimator": "whole", "elbo_rec": nll - kl + 1.0, "elbo": -(nll + 1.0),
                    "elbo_ppl": math.exp((nll + 1.0) * 500 / words), "iw_samples": 50, "n_sentences": 500,
                    "n_words": words}
            model = {"parameters": 190_000} | ({"receptive_field": field} if field else {})
            store.write_table(folder, store.CURVE, _curve(remedy, means, rng))
            if dataset == "synthetic":
                store.write_table(folder, store.SNAPSHOTS, _snapshots(remedy, rng))
            store.write_json(folder / store.METRICS, {
                **base, "status": "finished", "test": test, "model": model, "best_epoch": 2, "epochs_run": 3,
                "steps": STEPS, "timings": {"train_s": 10.0, "eval_s": 1.0, "total_s": 11.0}})
    return suite


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def runs(suite: Path) -> pd.DataFrame:
    return load_runs(suite)


@pytest.fixture(scope="module")
def built(suite: Path) -> render.Report:
    return build_report(suite)


class TestRunsFrame:
    def test_one_row_per_run_with_status_and_flattened_config(self, runs):
        assert len(runs) == sum(len(cell[2]) for cell in CELLS)
        assert runs["run_id"].is_unique
        assert (runs["status"] == "failed").sum() == 1
        columns = {"model.nz", "train.epochs", "eval.iw_samples", "nll_iw", "neg_elbo", "kl", "mi", "au"}
        assert columns <= set(runs)
        assert set(runs.loc[runs["dataset"] == "synthetic", "model.nz"]) == {1}

    def test_iw_nll_and_elbo_are_separate_columns(self, runs):
        finished = runs[runs["status"] == "finished"]
        assert (finished["neg_elbo"] > finished["nll_iw"]).all()

    def test_short_labels_drop_parameters_unless_they_tell_specs_apart(self, runs):
        labels = set(runs["remedy_label"])
        assert {"none", "kl-annealing", "aggressive+kl-annealing", "aggressive",
                "dilated-cnn(size=small)", "dilated-cnn(size=large)", "word-dropout(keep=0.75)",
                "word-dropout(keep=0.25)"} == labels

    def test_runs_differing_in_config_beyond_the_seed_are_separate_cells(self, runs):
        vanilla = runs[(runs["dataset"] == "synthetic") & (runs["remedy"] == "none")]
        extra = vanilla.iloc[[0]].assign(**{"model.nz": 2, "run_id": "extra"})
        frame = pd.concat([runs, extra], ignore_index=True)
        frame["setting"] = cell_settings(frame)
        assert set(frame.loc[frame["dataset"] == "synthetic", "setting"]) == {"", "model.nz=2"}
        assert set(frame.loc[frame["dataset"] == "ptb-small", "setting"]) == {""}

    @pytest.mark.parametrize("legacy", [False, True], ids=["recorded", "inferred-for-older-stores"])
    def test_settings_a_remedy_configures_itself_do_not_split_cells(self, tmp_path, legacy):
        cells = [  # SGD the usual optimiser: more runs use it
            ("ptb-small", "none", (0, 1, 2), PTB, (101.5, 0.05, 0.02, 0.0), None),
            ("ptb-small", "none", (0, 1), ADAM, (100.0, 0.5, 0.3, 1.0), None),
            ("ptb-small", "kl-annealing", (0, 1), ADAM, (100.0, 0.5, 0.3, 1.0), None),
            ("ptb-small", "pretrain-fb", (0, 1), PTB, (101.0, 2.0, 1.0, 3.0), None),
            ("ptb-small", "bn-vae", (0, 1), PTB, (101.0, 2.0, 1.0, 3.0), None),
        ]
        runs = load_runs(write_store(tmp_path, cells, legacy=legacy))
        by_remedy = runs.groupby(runs["remedy"].str.split("(").str[0])
        assert set(by_remedy.get_group("none")["setting"]) == {"", "train.lr=0.001, train.optimizer=adam"}
        assert set(by_remedy.get_group("pretrain-fb")["setting"]) == {""}  # its lr of 0.5 is its own
        assert set(by_remedy.get_group("bn-vae")["setting"]) == {""}  # so is its encoder init
        assert set(by_remedy.get_group("pretrain-fb")["remedy_settings"]) == {
            "train.decay_patience,train.lr" if not legacy else "train.lr"}  # patience 5 is bn-vae's too
        assert set(by_remedy.get_group("none")["remedy_settings"]) == {""}

    def test_only_runs_that_read_one_file_for_valid_and_test_are_flagged(self, runs):
        assert shared_eval_files(runs) == {"ptb-small": "/data/ptb.test.txt"}
        assert shared_eval_files(runs.assign(**{"source.test_sha256": "c3"})) == {}
        assert shared_eval_files(runs.drop(columns=["source.valid_sha256"])) == {}

    def test_no_runs_is_a_config_error(self, tmp_path):
        with pytest.raises(ConfigError, match="no runs under"):
            load_runs(tmp_path)


class TestSummary:
    def test_ci_matches_scipy_and_failed_runs_are_counted_apart(self, runs):
        table = summary(runs)
        row = table[(table["condition"] == "synthetic") & (table["remedy_label"] == "kl-annealing")
                    & (table["metric"] == "kl")].iloc[0]
        values = runs.loc[(runs["condition"] == "synthetic") & (runs["remedy_label"] == "kl-annealing")
                          & (runs["status"] == "finished"), "kl"].to_numpy()
        low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert (row["n"], row["failed"]) == (2, 1)
        assert row["ci_low"] == pytest.approx(low) and row["ci_high"] == pytest.approx(high)

    def test_single_seed_has_a_mean_but_no_interval(self, runs):
        table = summary(runs)
        row = table[(table["remedy_label"] == "aggressive") & (table["metric"] == "nll_iw")].iloc[0]
        assert row["n"] == 1 and math.isfinite(row["mean"]) and math.isnan(row["ci_low"])

    def test_labels_name_iw_k_and_the_elbo_apart(self, runs):
        labels = set(summary(runs)["label"])
        assert {"NLL (IW, k=50)", "-ELBO (1 sample)"} <= labels


class TestSignificance:
    def test_welch_and_holm_match_scipy_and_statsmodels(self, runs):
        from statsmodels.stats.multitest import multipletests

        tests = significance(runs, "none")
        nll = tests[tests["metric"] == "nll_iw"]
        testable = nll[nll["note"] == ""]
        finished = runs[runs["status"] == "finished"]
        for r in testable.itertuples():
            cell = finished[finished["condition"] == r.condition]
            a = cell.loc[cell["remedy"] == r.remedy, "nll_iw"]
            b = cell.loc[cell["remedy"] == "none", "nll_iw"]
            assert r.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
        expected = multipletests(testable["p"], method="holm")[1]
        np.testing.assert_allclose(testable["p_holm"], expected)

    def test_n_below_two_is_not_testable_and_has_no_p_value(self, runs):
        tests = significance(runs, "none")
        single = tests[tests["remedy_label"] == "aggressive"]
        assert (single["note"].str.startswith("not testable")).all()
        assert single["p"].isna().all() and single["p_holm"].isna().all()

    def test_a_missing_baseline_is_said_and_skipped(self, runs, suite):
        base = resolve_baseline(runs, "aggressive")  # ptb-small only, n = 1
        tests = significance(runs, base)
        assert set(tests["condition"]) == {"ptb-small"} and tests["p"].isna().all()
        text = render.markdown_report(suite, runs, summary(runs), tests, [], "aggressive", base,
                                      remedy_order(runs, base))
        assert "No run of the baseline `aggressive` in: **synthetic**" in text

    def test_baseline_may_be_named_without_parameters(self, runs):
        spec = resolve_baseline(runs, "kl-annealing")
        assert spec.startswith("kl-annealing(") and resolve_baseline(runs, "cyclical") is None

    def test_baseline_given_some_parameters_is_matched_by_value_in_the_store(self, runs):
        assert resolve_baseline(runs, "kl-annealing(epochs=10)") == resolve_baseline(
            runs, "kl-annealing")  # 10 and 10.0 are one value
        assert resolve_baseline(runs, "word-dropout(keep=.25)") == "word-dropout(keep=0.25)"
        assert resolve_baseline(runs, "kl-annealing(epochs=3)") is None
        ambiguous = r"'word-dropout' matches 2 remedies.*keep=0.25.*keep=0.75"
        with pytest.raises(ConfigError, match=ambiguous):
            resolve_baseline(runs, "word-dropout")


@pytest.mark.parametrize("legacy", [False, True], ids=["recorded", "spec-of-older-stores"])
def test_parameters_of_a_lone_remedy_are_columns(tmp_path, legacy):
    runs = load_runs(write_store(tmp_path, legacy=legacy))
    keep = runs.set_index("remedy")["param.word-dropout.keep"]
    assert set(keep["word-dropout(keep=0.25)"]) == {0.25} and set(keep["word-dropout(keep=0.75)"]) == {0.75}
    assert keep.drop(["word-dropout(keep=0.25)", "word-dropout(keep=0.75)"]).isna().all()
    assert set(runs["param.dilated-cnn.size"].dropna()) == {"small", "large"}
    composed = runs[runs["remedy"].str.contains("+", regex=False)]
    assert not composed.empty and composed["param.kl-annealing.epochs"].isna().all()  # one-part remedies only
    assert runs.attrs[NEUTRAL] == ({} if legacy else {"param.word-dropout.keep": 1.0})


class TestReportFolder:
    def test_every_table_and_figure_is_written(self, built):
        names = {path.name for path in built.out.iterdir()}
        assert {"report.md", "summary.csv", "significance.csv", "runs.csv", "table.tex"} <= names
        assert {"metric_bars.png", "kl_curve.png", "mi_au_curve.png", "rate_distortion.png",
                "receptive_field.png", "word-dropout-keep.png", "posterior_mean_synthetic.png"} <= names
        for figure in built.figures:
            assert (built.out / figure).read_bytes().startswith(b"\x89PNG")

    def test_report_md_reads_without_the_code(self, built):
        text = (built.out / "report.md").read_text()
        for needed in ("## How to read this report", "higher = less collapse", "Hedges' g", "Holm",
                       "not testable", "NLL (IW, k=50)", "-ELBO (1 sample)", "## Failed runs",
                       "Diverged: non-finite loss", "![", "posterior_mean_synthetic.png"):
            assert needed in text, needed
        for figure in built.figures:
            assert f"]({figure})" in text

    def test_one_file_as_validation_and_test_split_is_warned_about(self, built):
        assert built.warnings == [render.shared_split_warning("ptb-small", "/data/ptb.test.txt")]
        text = (built.out / "report.md").read_text()
        assert "## Warnings" in text and built.warnings[0] in text
        assert text.index("## Warnings") < text.index("## Summary")

    def test_table_tex_uses_booktabs(self, built):
        text = (built.out / "table.tex").read_text()
        assert all(rule in text for rule in ("\\toprule", "\\midrule", "\\bottomrule"))
        assert "NLL (IW, $k{=}50$)" in text and "$-$ELBO (1 sample)" in text

    def test_table_tex_bolds_the_best_mean_and_marks_holm_significant_cells(self, built, runs):
        tests = significance(runs, "none")
        significant = set(tests.loc[tests["p_holm"] < latex.ALPHA, ["condition", "remedy_label", "metric"]]
                          .itertuples(index=False, name=None))
        assert significant  # the fixture has some, so the daggers are tested
        table = summary(runs)
        text = (built.out / "table.tex").read_text()
        body = text.split("\\midrule\n", 1)[1].split("\\bottomrule")[0]
        condition = None
        for line in body.splitlines():
            if line == "\\midrule":
                continue
            first, label, _, *values = line.removesuffix(" \\\\").split(" & ")
            condition = first or condition
            for key, value in zip(latex.TEX_METRICS, values, strict=True):
                assert ("^{\\dagger}" in value) == ((condition, label, key) in significant), (label, key)
                means = table[(table["condition"] == condition) & (table["metric"] == key)]
                lowest = means["mean"].round(METRIC[key].digits).min()
                mine = means.loc[means["remedy_label"] == label, "mean"].round(METRIC[key].digits)
                best = key in ("nll_iw", "neg_elbo") and mine.iloc[0] == lowest
                assert ("\\mathbf" in value) == best, (condition, label, key)
        assert "$^\\dagger$: differs from \\texttt{none}" in text

    def test_every_figure_also_has_a_pdf(self, built):
        for name in built.figures:
            assert (built.out / name.replace(".png", ".pdf")).read_bytes().startswith(b"%PDF")

    def test_figures_are_byte_stable(self, built, suite, tmp_path):
        again = build_report(suite, tmp_path / "again")
        for name in [*built.figures, *(name.replace(".png", ".pdf") for name in built.figures)]:
            assert (built.out / name).read_bytes() == (again.out / name).read_bytes(), name


def _points(ax) -> set[tuple[float, float]]:
    """The (x, y) of the single-run dots of a panel."""
    (dots,) = [c for c in ax.collections if c.get_offsets().shape[0] and c.get_sizes().tolist() == [12]]
    return {(round(float(x), 6), round(float(y), 6)) for x, y in dots.get_offsets()}


def word_keep(runs: pd.DataFrame):
    """The sweep of word dropout's keep rate, found in the runs as a report finds it."""
    return next(s for s in parameter_sweeps(runs) if s.column == "param.word-dropout.keep")


class TestSweeps:
    def test_a_numeric_parameter_of_a_lone_remedy_that_varies_is_a_sweep(self, runs):
        drawn = [s.column for s in parameter_sweeps(runs) if sweep(runs, s) is not None]
        assert drawn == ["param.word-dropout.keep"]  # kl-annealing's are one value each, a size is a word
        assert word_keep(runs).baseline_at == 1.0 and word_keep(runs).file == "word-dropout-keep.png"

    def test_word_keep_pools_runs_only_within_their_row_group(self, tmp_path):
        cells = [
            ("ptb-small", "none", (0, 1), PTB, (101.5, 0.05, 0.02, 0.0), None),
            ("ptb-small", "word-dropout(keep=0.5)", (0, 1), PTB, (102.0, 2.0, 1.0, 3.0), None),
            ("ptb-small", "none", (0, 1), ADAM, (100.0, 0.5, 0.3, 1.0), None),
            ("ptb-small", "word-dropout(keep=0.5)", (0, 1), ADAM, (99.0, 6.0, 3.0, 8.0), None),
        ]
        runs = load_runs(write_store(tmp_path, cells))
        figure = sweep(runs, word_keep(runs)).figure
        kl_axes = figure.axes[0::2]
        assert len(kl_axes) == runs["condition"].nunique() == 2  # one row per row group, not per dataset
        for ax, (condition, cell) in zip(kl_axes, runs.groupby("condition", sort=True), strict=True):
            assert ax.get_title().replace("\n", " ").startswith(condition)
            keep = cell["param.word-dropout.keep"].fillna(1.0)  # the `none` runs sit at keep rate 1
            assert _points(ax) == {(round(x, 6), round(y, 6)) for x, y in zip(keep, cell["kl"], strict=True)}

    def test_keep_rate_one_is_the_none_run_of_the_same_group(self, runs):
        figure = sweep(runs, word_keep(runs)).figure
        kl = figure.axes[0]
        none_kl = runs.loc[(runs["condition"] == "ptb-small") & (runs["remedy"] == "none"), "kl"].mean()
        mean_line = kl.lines[0]
        assert list(mean_line.get_xdata()) == [0.25, 0.75, 1.0]
        assert mean_line.get_ydata()[-1] == pytest.approx(none_kl)
        assert [text.get_text() for text in figure.legends[0].get_texts()] == [
            "mean over seeds", "one run (seed)", word_keep(runs).baseline_name]

    def test_the_cnn_sweep_draws_the_lstm_decoder_as_a_reference_level(self, runs):
        figure = sweep(runs, RECEPTIVE_FIELD).figure
        none = runs[(runs["condition"] == "ptb-small") & (runs["remedy"] == "none")]
        for ax, key in zip(figure.axes, ("kl", "nll_iw"), strict=True):
            levels = [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--"]
            assert levels == [pytest.approx(none[key].mean())]
            assert {x for x, _ in _points(ax)} == {15, 125}  # the LSTM has no receptive field to plot at
        assert RECEPTIVE_FIELD.baseline_name in [t.get_text() for t in figure.legends[0].get_texts()]


class TestMetricRanges:
    """Axes stay within what a metric can be: KL >= 0, 0 <= AU <= nz; an MI estimate below 0 is said."""

    @staticmethod
    def _curves(nz: int, au: list[list[float]], mi: list[list[float]]) -> pd.DataFrame:
        """One cell, one remedy, a run per row of `au` and `mi` (one value per step)."""
        return pd.DataFrame([
            {"run_id": f"r{run}", "seed": run, "step": step, "condition": "cell", "remedy": "none",
             "remedy_label": "none", "model.nz": nz, "au": au[run][step], "mi": mi[run][step], "kl": math.nan}
            for run in range(len(au)) for step in range(len(au[run]))
        ])

    def test_au_axis_counts_out_of_nz_with_one_line_per_seed(self):
        curves = self._curves(4, au=[[0, 4, 4], [1, 4, 3], [0, 4, 4]], mi=[[0.1, 1, 2]] * 3)
        figure = mi_au_curves(curves, ["none"], remedy_styles(["none"])).figure
        _, au_ax = figure.axes
        assert len(au_ax.lines) == 3 and not au_ax.collections  # a line per seed, no band
        assert au_ax.get_ylabel() == "active units (of 4)"
        assert au_ax.get_ylim() == pytest.approx((-0.16, 4.16))
        assert MI_BELOW_ZERO not in figure.get_suptitle()

    def test_an_mi_estimate_below_zero_is_said_in_the_title_and_not_clipped(self):
        curves = self._curves(2, au=[[0, 0]] * 3, mi=[[0.0, -0.02], [0.0, 0.01], [0.0, -0.01]])
        figure = mi_au_curves(curves, ["none"], remedy_styles(["none"])).figure
        assert MI_BELOW_ZERO in figure.get_suptitle()
        assert min(min(line.get_ydata()) for line in figure.axes[0].lines) == pytest.approx(-0.02)

    def test_bars_draw_single_runs_without_intervals_and_count_au_out_of_nz(self, runs):
        table = summary(runs)
        order = remedy_order(runs, "none")
        figure = metric_bars(runs, table, order, remedy_styles(order)).figure
        assert not [c for ax in figure.axes for c in ax.collections if isinstance(c, LineCollection)]
        kl_axes = [ax for ax in figure.axes if ax.get_title().startswith("KL")]
        dots = sum(len(c.get_offsets()) for ax in kl_axes for c in ax.collections)
        assert dots == (runs["status"] == "finished").sum()  # one dot per finished run
        assert all(ax.get_xlim()[0] <= 0 for ax in kl_axes)
        au_labels = {ax.get_xlabel() for ax in figure.axes if ax.get_title().startswith("AU")}
        assert au_labels == {"active units (of 32)", "active units (of 1)"}
        assert MI_BELOW_ZERO in figure.get_suptitle()  # the fixture's collapsed runs estimate MI < 0


class TestRowGroupLabels:
    SGD, ADAM_LABEL = "SGD (He et al. protocol)", "Adam, lr 1e-3 (Fu et al.)"
    CELLS = (
        ("ptb-small", "none", (0, 1), PTB, (101.5, 0.05, 0.02, 0.0), None),
        ("ptb-small", "kl-annealing", (0, 1), PTB, (101.2, 1.5, 1.1, 3.0), None),
        ("ptb-small", "none", (0, 1), ADAM, (100.0, 0.5, 0.3, 1.0), None),
    )

    def _labelled(self, tmp_path: Path, sgd: str, adam: str) -> Path:
        """The store with a suite.json that labels its SGD and its Adam runs."""
        suite = write_store(tmp_path, list(self.CELLS))
        runs = load_runs(suite)
        cells = [{"run_id": run_id, "label": adam if optimizer == "adam" else sgd}
                 for run_id, optimizer in zip(runs["run_id"], runs["train.optimizer"], strict=True)]
        store.write_json(suite / store.SUITE, {"name": "fixture", "cells": cells})
        return suite

    def test_a_label_titles_its_row_group_in_tables_and_figures(self, tmp_path):
        suite = self._labelled(tmp_path, self.SGD, self.ADAM_LABEL)
        runs = load_runs(suite)
        titles = {f"ptb-small: {self.SGD}", f"ptb-small: {self.ADAM_LABEL}"}
        assert set(runs["condition"]) == titles
        assert runs.groupby("condition")["run_id"].count().to_dict() == {
            f"ptb-small: {self.SGD}": 4, f"ptb-small: {self.ADAM_LABEL}": 2}
        report = build_report(suite)
        text = (report.out / "report.md").read_text()
        assert all(f"### {title}" in text for title in titles)
        assert "| ptb-small: Adam, lr 1e-3 (Fu et al.) | 2 | train.lr=0.001, train.optimizer=adam |" in text
        assert f"ptb-small: {self.ADAM_LABEL} & none" in (report.out / "table.tex").read_text()

    def test_one_label_on_two_row_groups_keeps_the_generated_titles(self, tmp_path):
        runs = load_runs(self._labelled(tmp_path, "same", "same"))
        assert set(runs["condition"]) == {"ptb-small", "ptb-small (train.lr=0.001, train.optimizer=adam)"}


def test_a_run_stored_before_a_setting_existed_is_not_pooled_with_runs_that_change_it(tmp_path):
    """Runs stored before `train.batching` cut padded batches; their config.json has no such key."""
    suite = write_store(tmp_path, [("ptb-small", "none", (0, 1), {}, (100.0, 0.5, 0.3, 1.0), None)])
    before = write_store(tmp_path / "old", [("ptb-small", "none", (0, 1), {"train.batching": "padded"},
                                             (101.0, 0.5, 0.3, 1.0), None)])
    for folder in (before / "runs").iterdir():
        config = store.read_json(folder / store.CONFIG)
        assert "batching" not in config["train"]  # as older runs wrote it
        shutil.copytree(folder, suite / "runs" / folder.name)
    runs = load_runs(suite)
    assert runs.groupby("condition")["run_id"].count().to_dict() == {
        "ptb-small": 2, "ptb-small (train.batching=padded)": 2}


def test_snapshots_picked_from_early_epoch_zero_to_the_end():
    frame = pd.DataFrame({"step": [50, 100, 150, 200, 300, 600], "epoch": [0, 0, 0, 0, 1, 2]})
    assert pick_snapshots(frame) == [50, 100, 200, 600]


class TestCommand:
    def test_report_command_writes_the_folder(self, tmp_path):
        small = write_store(tmp_path, CELLS[:1])  # the baseline alone: nothing to test, still a report
        result = CliRunner().invoke(cli, ["report", str(small), "--out", str(tmp_path / "r")])
        assert result.exit_code == 0, result.output
        assert "report of 3 runs" in result.output
        assert "nothing to compare" in (tmp_path / "r" / "report.md").read_text()

    def test_the_shared_split_warning_is_on_stderr_once(self, tmp_path):
        small = write_store(tmp_path, CELLS[3:5])  # ptb-small: 6 runs, each recording the same files
        result = CliRunner().invoke(cli, ["report", str(small)])
        assert result.exit_code == 0, result.output
        assert result.stderr.count("validation and test splits are the same file") == 1

    def test_a_baseline_without_runs_warns_and_still_reports(self, tmp_path):
        small = write_store(tmp_path, CELLS[:1])
        result = CliRunner().invoke(cli, ["report", str(small), "--baseline", "cyclical"])
        assert result.exit_code == 0 and "no run of the baseline 'cyclical'" in result.output

    def test_empty_store_is_one_line_exit_2_and_writes_nothing(self, tmp_path):
        result = CliRunner().invoke(cli, ["report", str(tmp_path)])
        assert result.exit_code == 2
        assert "no runs under" in result.output and not (tmp_path / "report").exists()
