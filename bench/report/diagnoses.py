"""The report's Diagnosis section and the per-run numbers behind it: the kind of collapse each run shows
(`bench.diagnosis`), its collapse onset on the training curve and its last amortisation gap.

A run's onset is read from its curve: the MI on the fixed validation batch (`train.diag_batch`
sentences of the validation split), judged against the escape rule's null threshold at that batch's
size and the run's nz. The gap is read from metrics.json's per-epoch `validation` records, where runs
trained with `train.gap_sentences` > 0 keep it.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import store
from bench.diagnosis import (
    KINDS,
    LAG_NATS,
    MEANINGS,
    Evidence,
    classify,
    collapse_onset,
    curve_batch,
    suggestions,
)
from bench.markdown import markdown_table, number
from bench.report.escape import NULL_QUANTILE, mi_null_threshold, run_vmf_kappa
from bench.report.runs_frame import FINISHED, RUNS
from bench.report.verdict_tables import onset_text
from bench.report.verdicts import autoencoder_control, onset_numbers

GAP = "amortisation_gap"  # the key of an epoch's validation record (bench.amortisation.Gap.record)
CELL_KEYS = ["run_id", "dataset", "condition", "remedy", "remedy_label", "seed", "model.nz"]


def validation_table(store_dir: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run and epoch whose validation record holds the amortisation gap, with the
    run's cell columns; empty when no run recorded it."""
    finished = runs[runs["status"] == FINISHED]
    rows = [{"run_id": run_id, "epoch": record["epoch"], GAP: record[GAP]}
            for run_id in finished["run_id"] for record in _validation(Path(store_dir) / RUNS / run_id)
            if GAP in record]
    return pd.DataFrame(rows).merge(finished[CELL_KEYS], on="run_id") if rows else pd.DataFrame()


def _validation(folder: Path) -> list[dict[str, Any]]:
    return store.read_json(folder / store.METRICS).get("validation") or []


def with_diagnoses(runs: pd.DataFrame, curves: pd.DataFrame, validation: pd.DataFrame) -> pd.DataFrame:
    """`runs` with `collapse_onset` (its step; NaN where the curve's MI never stays under the threshold or
    was not measured), `curve_mi` (whether the curve has MI), `gap_last` (the last epoch's amortisation
    gap) and `diagnosis` (the kind; empty for a run without test metrics). `runs` has its `escaped`
    column (bench.report.verdicts.with_escapes)."""
    measured = curves[curves["mi"].notna()] if not curves.empty and "mi" in curves else pd.DataFrame()
    by_run = dict(tuple(measured.groupby("run_id"))) if not measured.empty else {}
    last_gap = (validation.sort_values("epoch").groupby("run_id")[GAP].last() if not validation.empty
                else pd.Series(dtype=float))
    onsets, kinds = [], []
    for _, run in runs.iterrows():
        curve = by_run.get(run["run_id"])
        onset = None
        if curve is not None:
            valid = run.get("n_valid")
            size = curve_batch(int(run["train.diag_batch"]), None if pd.isna(valid) else int(valid))
            threshold = mi_null_threshold(size, int(run["model.nz"]), vmf_kappa=run_vmf_kappa(run))
            onset = collapse_onset(curve["step"], curve["mi"], threshold)
        onsets.append(math.nan if onset is None else float(onset))
        kinds.append(_kind(run, last_gap.get(run["run_id"])))
    return runs.assign(collapse_onset=onsets, curve_mi=runs["run_id"].isin(by_run),
                       gap_last=runs["run_id"].map(last_gap).astype(float), diagnosis=kinds)


def _kind(run: pd.Series, gap: float | None) -> str:
    """The run's kind by its test metrics and its escape flag (`escaped`); empty without them."""
    values = [run.get(key) for key in ("kl", "mi", "au", "n_sentences", "model.nz", "escaped")]
    if run["status"] != FINISHED or any(value is None or pd.isna(value) for value in values):
        return ""
    kl, mi, au, n, nz = (float(value) for value in values[:5])
    return classify(Evidence(remedy=run["remedy"], nz=int(nz), n_sentences=int(n), kl=kl, mi=mi, au=au,
                             threshold=mi_null_threshold(int(n), int(nz), vmf_kappa=run_vmf_kappa(run)),
                             escaped=bool(run["escaped"]),
                             gap=None if gap is None or pd.isna(gap) else float(gap)))


def diagnosis_markdown(runs: pd.DataFrame, order: list[str]) -> str | None:
    """The Diagnosis section: per row group and remedy, the kinds its runs show with the medians behind
    them and what to try next; then what each kind means. None when no run has test metrics."""
    if "diagnosis" not in runs:
        return None
    diagnosed = runs[runs["diagnosis"].astype(str) != ""]
    if diagnosed.empty:
        return None
    blocks = []
    for condition, cell in diagnosed.groupby("condition", sort=True):
        labels = [label for label in order if label in set(cell["remedy_label"])]
        rows = [_row(cell[cell["remedy_label"] == label]) for label in labels]
        blocks.append(f"### {condition}\n\n" + markdown_table(
            ["remedy", "runs", "diagnosis (runs)", "KL", "MI [null]", "AU", "gap (last epoch)",
             "collapse onset (runs)", "try next"], rows, [False, True, False, True, True, True, True, True,
                                                          False]))
    tables = "\n\n".join(blocks)
    legend = "\n".join(f"- **{kind}**: {MEANINGS[kind]}." for kind in KINDS)
    return f"""## Diagnosis

Which kind of collapse each run shows, decided in this order (`bench/diagnosis.py`): **inference lag**
when the run does not escape but its last amortisation gap is at least {LAG_NATS} nats per sentence;
**posterior collapse** when its KL is at or below the MI null threshold (MI cannot exceed the KL, so such
a KL cannot hold what the escape rule asks); **KL without information** when the KL is above it but MI is
not (or AU = 0); otherwise the run escapes, **partial collapse** with some units active, **healthy** with
all. KL, MI and AU are medians over the finished runs of the test metrics, MI with its null threshold
(the {NULL_QUANTILE:.0%} point for an encoder with no active unit, at the runs' N and nz) in brackets; AU
of nz. *gap*: the amortisation gap at the last epoch (Cremer et al. 2018: the ELBO gained per sentence
by optimising each sentence's own q(z|x) with the decoder fixed), median, where the runs recorded it
(`--set train.gap_sentences=N`). *collapse onset*: the first training step after which the MI on the
fixed validation batch stays at or below the null threshold at that batch's size; median over the runs
whose curve collapses, with how many do of the runs with an MI curve. *try next*: remedies of this
harness for the cell's most common kind (`collapse-bench list remedies`). `collapse-bench diagnose RUN`
says the same of one run, with the KL of each latent unit and decodes from the prior and the posterior.

{tables}

{legend}"""


def _row(frame: pd.DataFrame) -> list[str]:
    counts = Counter(frame["diagnosis"])
    kinds = ", ".join(f"{kind} {counts[kind]}" for kind in KINDS if counts[kind])
    nz = int(frame["model.nz"].iloc[0])
    thresholds = sorted({mi_null_threshold(int(run["n_sentences"]), nz, vmf_kappa=run_vmf_kappa(run))
                         for _, run in frame.iterrows()})
    mi = number(float(frame["mi"].median()), 3) + f" [{', '.join(f'{t:.3f}' for t in thresholds)}]"
    remedy = frame["remedy"].iloc[0]
    advice = "" if autoencoder_control(remedy) else ", ".join(
        spec for spec, _ in suggestions(counts.most_common(1)[0][0], remedy))
    return [frame["remedy_label"].iloc[0], str(len(frame)), kinds, number(float(frame["kl"].median()), 3), mi,
            f"{number(float(frame['au'].median()), 1)} of {nz}", number(_median(frame["gap_last"]), 3),
            onset_text(onset_numbers(frame)), advice or "—"]


def _median(values: pd.Series) -> float:
    finite = values.dropna().to_numpy(dtype=float)
    return float(np.median(finite)) if len(finite) else math.nan
