"""Each remedy against the baseline on the same test sentences: the NLL paired by sentence.

The report's Welch test compares seeds: would the remedy, trained again, give
another NLL? This test compares sentences. Per test sentence it takes the IW
NLL averaged over a cell's seeds, remedy minus baseline, and gives the mean
difference over sentences with its paired t-test and 95% t-interval
(`stats.paired_t`; with hundreds of sentences the t-interval of a mean holds
whatever the differences' shape). Pairing removes the sentence-to-sentence
spread (a long sentence costs more nats under every model), so it resolves
differences that the few seeds cannot; but it holds the trained seeds fixed:
it says how these models score these sentences, not what retraining would
give. Its mean difference is the Welch row's (both average the same numbers).

It needs the per-sentence table (`store.PER_SENTENCE`) of every finished run
of both cells, all scored on the same sentences; otherwise the row gets a
note and no numbers (a run stored before the table existed has none).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.markdown import markdown_table, number, p_value, signed
from bench.report.runs_frame import FINISHED
from bench.report.stats import NOT_TESTABLE, holm, paired_t
from bench.report.summaries import METRIC

METRIC_KEY = "nll_iw"  # the tested metric: its rows of the significance table get the columns below
COLUMNS = ["sentences", "sentence_diff", "sentence_ci_low", "sentence_ci_high", "sentence_t", "sentence_df",
           "sentence_p", "sentence_p_holm", "sentence_note"]


def with_sentence_tests(tests: pd.DataFrame, runs: pd.DataFrame, tables: pd.DataFrame,
                        baseline: str | None) -> pd.DataFrame:
    """The significance table `tests` with COLUMNS after its own: filled on its NLL rows (empty on the
    others), the p-values Holm-adjusted over those rows. `tables` is the per-sentence tables of the
    finished runs (`load_run_tables`), empty when no run has one."""
    out = tests.assign(**{column: np.nan for column in COLUMNS[:-1]}, sentence_note="")
    finished = runs[runs["status"] == FINISHED]
    rows = out.index[out["metric"] == METRIC_KEY]
    for index in rows:
        condition, remedy = out.at[index, "condition"], out.at[index, "remedy"]
        remedy_means = _sentence_means(finished, tables, condition, remedy)
        base_means = _sentence_means(finished, tables, condition, baseline)
        note = next((side for side in (remedy_means, base_means) if isinstance(side, str)), "")
        if not note and not remedy_means.index.equals(base_means.index):
            note = f"{NOT_TESTABLE}the two cells scored different sentences"
        if note:
            out.at[index, "sentence_note"] = note
            continue
        result = paired_t(base_means.to_numpy(), remedy_means.to_numpy(), unit="sentence")
        out.loc[index, COLUMNS] = [result.n, result.diff, result.low, result.high, result.t, result.df,
                                   result.p, np.nan, result.reason]
    out.loc[rows, "sentence_p_holm"] = holm(out.loc[rows, "sentence_p"].to_numpy())
    return out.astype({"sentences": "Int64"})


def _sentence_means(finished: pd.DataFrame, tables: pd.DataFrame, condition: str,
                    remedy: str | None) -> pd.Series | str:
    """NLL per sentence (index: its position in the split, sorted), averaged over the cell's finished
    runs; or why there is none."""
    ids = set(finished.loc[(finished["condition"] == condition) & (finished["remedy"] == remedy), "run_id"])
    if not ids:
        return f"{NOT_TESTABLE}no finished run"
    table = tables[tables["run_id"].isin(ids)] if not tables.empty else tables
    missing = len(ids - set(table["run_id"] if not table.empty else ()))
    if missing:
        return (f"{NOT_TESTABLE}no per-sentence table for {missing} of {len(ids)} runs "
                "(stored before the table existed)")
    wide = table.pivot(index="sentence", columns="run_id", values=METRIC_KEY).sort_index()
    if wide.isna().to_numpy().any():
        return f"{NOT_TESTABLE}the runs of a cell scored different sentences"
    return wide.mean(axis=1)


def sentence_markdown(tests: pd.DataFrame, order: list[str], shown: str) -> str:
    """The section of report.md: per dataset cell, one row per remedy; '' when `tests` has no NLL row
    with the per-sentence columns."""
    if "sentence_note" not in tests:
        return ""
    nll = tests[tests["metric"] == METRIC_KEY]
    if nll.empty:
        return ""
    digits = METRIC[METRIC_KEY].digits
    rank = {label: index for index, label in enumerate(order)}
    blocks = [f"## NLL on the same test sentences against `{shown}`\n\n"
              "Per test sentence, the IW NLL averaged over a cell's seeds, remedy minus baseline; the mean "
              "of these differences over the sentences with its 95% paired t-interval and the paired t-test "
              "(p-values Holm-adjusted over this table's comparisons). It holds the trained seeds fixed: it "
              "tells how these models score the same sentences, where the Welch test above asks whether a "
              "retrained remedy would differ. — where a cell's runs have no per-sentence table (stored "
              "before it existed) or scored other sentences."]
    for condition, cell in nll.groupby("condition", sort=True):
        rows = []
        for r in cell.assign(_r=cell["remedy_label"].map(rank)).sort_values("_r").itertuples():
            if r.sentence_note and pd.isna(r.sentence_t):
                dash = "—"
                rows.append([r.remedy_label, dash if pd.isna(r.sentences) else str(r.sentences),
                             dash, dash, r.sentence_note, dash])
                continue
            rows.append([r.remedy_label, str(int(r.sentences)), signed(r.sentence_diff, digits),
                         f"[{number(r.sentence_ci_low, digits)}, {number(r.sentence_ci_high, digits)}]",
                         p_value(r.sentence_p), p_value(r.sentence_p_holm)])
        headers = ["remedy", "sentences", f"Δ NLL per sentence (remedy - {shown})", "95% CI (paired t)",
                   "p (paired t)", "p (Holm)"]
        blocks.append(f"### {condition}\n\n" + markdown_table(headers, rows, [False, True, True, True, True,
                                                                              True]))
    return "\n\n".join(blocks)
