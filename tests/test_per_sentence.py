"""Per-sentence test scores: what a run stores, that they leave its metrics as they were, and the report's
NLL test paired on the same sentences."""

from __future__ import annotations

import contextlib
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import as_before_the_per_sentence_table
from scipy import stats

from bench import store
from bench.data.datasets import cached_corpus
from bench.evaluate import SENTENCE_COLUMNS, evaluation_indices, score
from bench.markdown import signed
from bench.models import build_model
from bench.report import build_report, render
from bench.report.sentence_tests import COLUMNS, sentence_markdown, with_sentence_tests
from bench.report.summaries import SIGNIFICANCE_COLUMNS, significance
from bench.sampling import load_run
from bench.settings import EvalConfig, ModelConfig
from bench.single_run import execute, final_evaluation, plan_run, resolve

TINY = {"data.synthetic_size": 100, "data.synthetic_vocab": 20, "data.synthetic_length": 4, "model.emb": 8,
        "model.enc_hidden": 8, "model.dec_hidden": 8, "train.epochs": 1, "train.batch_size": 8,
        "eval.iw_samples": 3, "train.diag_every": 0, "train.threads": 1}
REMEDIES = ("none", "word-dropout(keep=0.5)", "beta")


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 remedies x 2 seeds, trained tiny (10 test sentences): the folder results/t."""
    out = tmp_path_factory.mktemp("store")
    for remedy in REMEDIES:
        for seed in (0, 1):
            metrics = execute(plan_run(resolve("synthetic", remedy, seed, TINY)), out, "t")
            assert metrics["status"] == "finished"
    return out / "t"


def run_folders(suite: Path) -> list[Path]:
    return sorted((suite / "runs").iterdir())


class TestTheRunsTable:
    def test_one_row_per_scored_sentence_registered_with_a_digest(self, suite):
        for folder in run_folders(suite):
            metrics = store.read_json(folder / store.METRICS)
            table = store.read_table(folder, store.PER_SENTENCE)
            assert list(table.columns) == list(SENTENCE_COLUMNS)
            assert len(table) == metrics["test"]["n_sentences"] == 10
            assert table["sentence"].tolist() == list(range(10))  # the whole test split, in its order
            assert (table["tokens"] == 4).all()  # synthetic sentences of data.synthetic_length words
            name = next(path.name for path in folder.glob(f"{store.PER_SENTENCE}.*"))
            assert metrics["files"][name] == store.file_sha256(folder / name)

    def test_its_means_are_the_reported_metrics(self, suite):
        for folder in run_folders(suite):
            test = store.read_json(folder / store.METRICS)["test"]
            table = store.read_table(folder, store.PER_SENTENCE)
            assert table["nll_iw"].mean() == pytest.approx(test["nll"], rel=1e-12)
            assert table["kl"].mean() == pytest.approx(test["kl"], rel=1e-5, abs=1e-7)
            assert table["elbo_rec"].mean() == pytest.approx(test["elbo_rec"], rel=1e-6)

    def test_the_stored_model_scores_the_metrics_again_with_or_without_the_table(self, suite):
        folder = run_folders(suite)[0]
        loaded = load_run(folder)
        cfg = loaded.cfg
        corpus = cached_corpus(cfg.data)
        scored = final_evaluation(loaded.model, corpus, cfg, torch.device("cpu"))
        plain = score(loaded.model, corpus.splits["test"], cfg.eval, seed=cfg.seed,
                         device=torch.device("cpu"), autocast=contextlib.nullcontext(),
                         by_length=cfg.train.by_length).metrics
        stored = store.read_json(folder / store.METRICS)["test"]
        for metrics in (scored.metrics, plain):
            metrics.pop("timings")
            assert metrics == stored
        pd.testing.assert_frame_equal(scored.sentences, store.read_table(folder, store.PER_SENTENCE))

    def test_a_damaged_table_marks_the_run_damaged(self, suite, tmp_path):
        folder = shutil.copytree(run_folders(suite)[0], tmp_path / "run")
        path = next(folder.glob(f"{store.PER_SENTENCE}.*"))
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        assert store.run_status(folder) is store.DAMAGED and path.name in store.damage(folder)


def test_a_subset_is_indexed_by_position_in_the_split_and_lengths_are_kept():
    """Sentences of many lengths, scored as a seeded subset: rows in split order, each with its own length."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 9, (40,), generator=g).tolist()
    split = [torch.randint(4, 30, (n,), generator=g).tolist() for n in lengths]
    positions = evaluation_indices(len(split), 12, seed=3)
    model = build_model(30, ModelConfig(nz=2, emb=8, enc_hidden=8, dec_hidden=8))
    cfg = EvalConfig(iw_samples=4, iw_tokens=64)  # several batches, cut by length
    result = score(model, [split[i] for i in positions], cfg, seed=0, device=torch.device("cpu"),
                   autocast=contextlib.nullcontext(), positions=positions)
    table = result.sentences
    assert table["sentence"].tolist() == positions
    assert table["tokens"].tolist() == [len(split[i]) for i in positions]
    assert table["nll_iw"].mean() == pytest.approx(result.metrics["nll"], rel=1e-12)
    assert table["kl"].mean() == pytest.approx(result.metrics["kl"], abs=1e-9)
    # An untrained decoder spreads each prediction over the 30 words: its row's NLL counts its own words.
    per_prediction = table["nll_iw"] / (table["tokens"] + 1)
    np.testing.assert_allclose(per_prediction, math.log(30), rtol=0.05)


# ------------------------------------------------------------------ the paired test on fixed inputs

NLL = {  # (remedy, seed) -> NLL of sentences 0..4
    ("none", 0): [10.0, 20.0, 30.0, 40.0, 50.0],
    ("none", 1): [12.0, 22.0, 28.0, 40.0, 52.0],
    ("beta", 0): [9.0, 19.5, 29.0, 38.0, 50.5],
    ("beta", 1): [10.0, 19.5, 28.0, 39.0, 49.5],
}


def fixed_runs(remedies=("none", "beta"), cells=("synthetic",)) -> pd.DataFrame:
    rows = [{"run_id": f"{cell}-{remedy}-{seed}", "condition": cell, "dataset": cell, "remedy": remedy,
             "remedy_label": remedy, "seed": seed, "status": "finished",
             "nll_iw": float(np.mean(NLL[remedy, seed])), "eval.iw_samples": 5,
             **{key: 1.0 for key in ("ppl_iw", "neg_elbo", "kl", "mi", "au")}}
            for cell in cells for remedy in remedies for seed in (0, 1)]
    return pd.DataFrame(rows)


def fixed_tables(runs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{"run_id": run.run_id, "sentence": i, "nll_iw": value}
                         for run in runs.itertuples() for i, value in enumerate(NLL[run.remedy, run.seed])])


class TestPairedOnSentences:
    def test_seed_means_per_sentence_remedy_minus_baseline_paired_t(self):
        runs = fixed_runs()
        tests = with_sentence_tests(significance(runs, "none"), runs, fixed_tables(runs), "none")
        row = tests[tests["metric"] == "nll_iw"].iloc[0]
        base = np.mean([NLL["none", 0], NLL["none", 1]], axis=0)
        remedy = np.mean([NLL["beta", 0], NLL["beta", 1]], axis=0)
        expected = stats.ttest_rel(remedy, base)
        assert row["sentences"] == 5 and row["sentence_note"] == ""
        assert row["sentence_diff"] == pytest.approx(np.mean(remedy - base))
        assert row["sentence_diff"] == pytest.approx(row["diff"])  # the Welch row's mean difference
        assert row["sentence_t"] == pytest.approx(expected.statistic) and row["sentence_df"] == 4
        assert row["sentence_p"] == pytest.approx(expected.pvalue)
        assert row["sentence_p_holm"] == pytest.approx(row["sentence_p"])  # one comparison: Holm leaves it
        low, high = stats.t.interval(0.95, 4, loc=np.mean(remedy - base), scale=stats.sem(remedy - base))
        assert (row["sentence_ci_low"], row["sentence_ci_high"]) == (pytest.approx(low), pytest.approx(high))

    def test_existing_columns_keep_their_values_and_other_metrics_get_nothing(self):
        runs = fixed_runs()
        plain = significance(runs, "none")
        tests = with_sentence_tests(plain, runs, fixed_tables(runs), "none")
        assert list(tests.columns) == [*SIGNIFICANCE_COLUMNS, *COLUMNS]
        pd.testing.assert_frame_equal(tests[SIGNIFICANCE_COLUMNS], plain)
        others = tests[tests["metric"] != "nll_iw"]
        assert others[COLUMNS[:-1]].isna().all().all() and (others["sentence_note"] == "").all()

    def test_cells_without_tables_get_a_dash_never_a_crash(self):
        runs = fixed_runs(cells=("old", "new"))
        tables = fixed_tables(runs)
        tables = tables[~tables["run_id"].str.startswith("old-") & (tables["run_id"] != "new-beta-1")]
        tests = with_sentence_tests(significance(runs, "none"), runs, tables, "none")
        nll = tests[tests["metric"] == "nll_iw"].set_index("condition")
        for cell in ("old", "new"):
            assert math.isnan(nll.at[cell, "sentence_p"]) and pd.isna(nll.at[cell, "sentences"])
            assert "no per-sentence table for" in nll.at[cell, "sentence_note"]
        assert "1 of 2 runs" in nll.at["new", "sentence_note"]
        text = sentence_markdown(tests, ["none", "beta"], "none")
        assert "### old" in text and "| beta" in text and "—" in text
        empty = with_sentence_tests(significance(runs, "none"), runs, pd.DataFrame(), "none")
        assert empty.loc[empty["metric"] == "nll_iw", "sentence_note"].str.contains("no per-sentence").all()

    def test_different_sentences_are_not_paired(self):
        runs = fixed_runs()
        tables = fixed_tables(runs)
        tables.loc[tables["run_id"].str.contains("beta"), "sentence"] += 1
        tests = with_sentence_tests(significance(runs, "none"), runs, tables, "none")
        row = tests[tests["metric"] == "nll_iw"].iloc[0]
        assert "different sentences" in row["sentence_note"] and math.isnan(row["sentence_p"])


def test_the_report_writes_the_paired_columns_and_a_dash_for_runs_without_a_table(suite, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setattr(render, "all_figures", lambda *args: [])  # tested in test_report; slow to draw
    copy = shutil.copytree(suite, tmp_path / "t")
    older = next(folder for folder in run_folders(copy)
                 if store.read_json(folder / store.CONFIG)["remedy"].startswith("beta"))
    as_before_the_per_sentence_table(older)
    report = build_report(copy, tmp_path / "report")
    csv = pd.read_csv(report.out / "significance.csv")
    assert list(csv.columns) == [*SIGNIFICANCE_COLUMNS, *COLUMNS]
    nll = csv[csv["metric"] == "nll_iw"].set_index("remedy")
    paired = nll.loc["word-dropout(keep=0.5)"]
    assert paired["sentences"] == 10 and math.isfinite(paired["sentence_p"])
    assert paired["sentence_diff"] == pytest.approx(paired["diff"])
    older_cell = nll.loc[next(spec for spec in nll.index if spec.startswith("beta"))]
    assert math.isnan(older_cell["sentence_p"]) and math.isfinite(older_cell["p"])  # Welch as ever
    assert "no per-sentence table for 1 of 2 runs" in older_cell["sentence_note"]
    text = (report.out / "report.md").read_text()
    section = text.split("## NLL on the same test sentences against `none`")[1].split("\n## ")[0]
    assert f"| {older_cell['remedy_label']} | — | — | — | not testable: no per-sentence table" in section
    assert f"| {paired['remedy_label']} | 10 | {signed(paired['sentence_diff'], 2)} |" in section


