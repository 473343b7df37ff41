"""Statistics over the runs frame: the reported metrics, a summary per cell, tests against a baseline."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.report.baseline import conditions_without
from bench.report.runs_frame import FAILED, FINISHED, UNFINISHED
from bench.report.stats import holm, mean_ci, welch


@dataclass(frozen=True)
class Metric:
    """A reported quantity: its column in the runs frame and how a reader should see it.

    `lower_is_better` is None for the collapse measures: more KL, MI or AU
    means less collapse, which is not better in itself (a remedy can buy KL
    with a worse NLL).
    """

    key: str
    label: str  # may contain {k}, the number of importance samples
    unit: str
    lower_is_better: bool | None
    digits: int
    zero_based: bool  # a bar from 0 is meaningful (not for NLL ~ 60 nats with CIs of 0.1)
    tested: bool = True  # in the significance table (PPL is a transform of NLL: not tested twice)

    def title(self, k: int | None = None) -> str:
        return self.label.format(k=k if k is not None else "?")

    def axis_label(self, k: int | None = None) -> str:
        return f"{self.title(k)} [{self.unit}]" if self.unit else self.title(k)


METRICS: tuple[Metric, ...] = (
    Metric("nll_iw", "NLL (IW, k={k})", "nats/sentence", True, 2, zero_based=False),
    Metric("ppl_iw", "PPL (IW, k={k})", "", True, 2, zero_based=False, tested=False),
    Metric("neg_elbo", "-ELBO (1 sample)", "nats/sentence", True, 2, zero_based=False),
    Metric("kl", "KL(q(z|x) || p(z))", "nats", None, 3, zero_based=True),
    Metric("mi", "MI I_q(x; z)", "nats", None, 3, zero_based=True),
    Metric("au", "AU (active units)", "units", None, 2, zero_based=True),
)
# The sentiment probe's accuracy (`collapse-bench probe`): summarised only in stores that have one.
PROBE_METRIC = Metric("probe_bal_acc", "probe bal. acc.", "", None, 3, zero_based=True, tested=False)
METRIC = {metric.key: metric for metric in (*METRICS, PROBE_METRIC)}


def iw_k(frame: pd.DataFrame) -> int | None:
    """The IW sample count k configured for the runs in `frame` (one cell: one k), or None if mixed.

    Read from the config, so a cell whose runs all failed still names its k.
    """
    column = "eval.iw_samples" if "eval.iw_samples" in frame else "iw_samples"
    ks = frame[column].dropna().unique()
    return int(ks[0]) if len(ks) == 1 else None


def latent_size(frame: pd.DataFrame) -> int | None:
    """The latent size nz shared by the runs in `frame` (AU counts out of it), or None if mixed."""
    sizes = frame["model.nz"].dropna().unique()
    return int(sizes[0]) if len(sizes) == 1 else None


def reported_metrics(runs: pd.DataFrame) -> tuple[Metric, ...]:
    """METRICS, and the probe accuracy when some run has been probed: a store without probe.json
    reports exactly as it would without the probe."""
    probed = PROBE_METRIC.key in runs and runs[PROBE_METRIC.key].notna().any()
    return (*METRICS, PROBE_METRIC) if probed else METRICS


def summary(runs: pd.DataFrame, metrics: Iterable[Metric] = METRICS) -> pd.DataFrame:
    """Long frame, one row per (cell, remedy, metric): n, failed, unfinished, mean, std, 95% t-CI.

    n counts finished runs with a finite value; failed and unfinished runs are
    counted apart and never enter the numbers.
    """
    rows = []
    for (condition, remedy), frame in runs.groupby(["condition", "remedy"], sort=True):
        finished = frame[frame["status"] == FINISHED]
        for metric in metrics:
            interval = mean_ci(finished[metric.key].astype(float))
            rows.append({
                "condition": condition, "dataset": frame["dataset"].iloc[0],
                "setting": frame["setting"].iloc[0], "remedy": remedy,
                "remedy_label": frame["remedy_label"].iloc[0],
                "metric": metric.key, "label": metric.title(iw_k(frame)),
                "n": interval.n, "failed": int((frame["status"] == FAILED).sum()),
                "unfinished": int((frame["status"] == UNFINISHED).sum()),
                "mean": interval.mean, "std": interval.std, "ci_low": interval.low, "ci_high": interval.high,
            })
    return pd.DataFrame(rows)


SIGNIFICANCE_COLUMNS = [
    "condition", "remedy", "remedy_label", "metric", "label", "n", "n_baseline", "diff", "hedges_g",
    "t", "df", "p", "p_holm", "note",
]


def significance(
    runs: pd.DataFrame, baseline: str | None, metrics: Iterable[Metric] = METRICS
) -> pd.DataFrame:
    """Each remedy against `baseline` in the same cell, per tested metric.

    Welch's t-test, Hedges' g (remedy - baseline), and Holm's adjustment within
    each metric over all its comparisons in the store (every remedy in every
    cell is one comparison of that metric's family). Untestable comparisons
    carry a note and no p-value, and are not in the Holm family.
    """
    tested = [metric for metric in metrics if metric.tested]
    rows = []
    for condition, frame in runs.groupby("condition", sort=True):
        if condition in conditions_without(runs, baseline):
            continue
        finished = frame[frame["status"] == FINISHED]
        base = finished[finished["remedy"] == baseline]
        for remedy, all_runs in frame[frame["remedy"] != baseline].groupby("remedy", sort=True):
            group = finished[finished["remedy"] == remedy]
            for metric in tested:
                result = welch(group[metric.key].astype(float), base[metric.key].astype(float))
                rows.append({
                    "condition": condition, "remedy": remedy,
                    "remedy_label": all_runs["remedy_label"].iloc[0],
                    "metric": metric.key, "label": metric.title(iw_k(all_runs)), "n": result.n,
                    "n_baseline": result.n_baseline, "diff": result.diff, "hedges_g": result.hedges_g,
                    "t": result.t, "df": result.df, "p": result.p, "note": result.reason,
                })
    table = pd.DataFrame(rows, columns=[c for c in SIGNIFICANCE_COLUMNS if c != "p_holm"])
    table["p_holm"] = np.nan
    for _, index in table.groupby("metric").groups.items():
        table.loc[index, "p_holm"] = holm(table.loc[index, "p"].to_numpy())
    return table[SIGNIFICANCE_COLUMNS]
