"""Two stores of the same cells, before (A) and after (B) a change: paired differences and their tests.

Runs are paired by dataset cell, remedy label and seed (`PAIR`), never by
run id: a changed default changes every run id, yet seed 0 of `none` on
`synthetic` is still the same experiment before and after. The cell
(`condition`) and the short remedy label are read within each store, so a
remedy whose default moved still meets itself; the config values that differ
between the paired runs (its full spec among them) are listed, so a reader
sees what changed. Each cell and metric gets the paired t-test over seeds
(`stats.paired_t`), Holm-adjusted within each metric as in the report.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.config import SECTIONS
from bench.errors import ConfigError, closest
from bench.markdown import markdown_table, number, p_value, signed
from bench.report.labels import short_labels
from bench.report.render import run_counts
from bench.report.runs_frame import FAILED, FINISHED, load_runs
from bench.report.stats import NOT_TESTABLE, holm, paired_t
from bench.report.summaries import METRIC, Metric

CELL = ["dataset", "condition", "remedy_label"]
PAIR = [*CELL, "seed"]
ALPHA = 0.05  # family-wise level of the Holm-adjusted p-values that are flagged
# The names `--metric` takes (those of metrics.json), and the runs-frame metric each stands for.
METRIC_NAMES: dict[str, Metric] = {
    "nll": METRIC["nll_iw"], "ppl": METRIC["ppl_iw"], "elbo": METRIC["neg_elbo"],
    "kl": METRIC["kl"], "mi": METRIC["mi"], "au": METRIC["au"],
}
TABLE_COLUMNS = [
    "condition", "remedy_label", "metric", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "t", "df",
    "p", "p_holm", "significant", "note",
]


@dataclass(frozen=True)
class StoreComparison:
    """Everything `collapse-bench compare` states, computed before anything is written."""

    a: Path
    b: Path
    runs_a: pd.DataFrame
    runs_b: pd.DataFrame
    tests: pd.DataFrame  # TABLE_COLUMNS: one row per cell in both stores and metric
    changes: pd.DataFrame  # key, a, b, pairs: config values that differ between paired runs
    only_a: pd.DataFrame  # CELL columns and runs: cells with no run in B
    only_b: pd.DataFrame
    left_out: pd.DataFrame  # side, condition, remedy_label, seed, run_id, why
    damaged: list[str]  # one line per run left out because a file of it does not read whole


def compare_stores(a: Path, b: Path, metrics: list[str] | None = None) -> StoreComparison:
    """Pair the runs of the suite folders `a` and `b` and test every shared cell on `metrics`
    (names of METRIC_NAMES, default all). Raises ConfigError when a folder is missing or has no
    run, or when no finished run of A has a finished partner in B."""
    chosen = chosen_metrics(metrics or list(METRIC_NAMES))
    damaged: list[str] = []
    runs_a, runs_b = read_store(Path(a), "A", damaged), read_store(Path(b), "B", damaged)
    pairs = pair_runs(runs_a, runs_b)
    if pairs.empty:
        raise ConfigError(
            f"no finished run of A ({a}) has a finished partner in B ({b}) with the same dataset cell, "
            "remedy and seed: nothing to compare"
        )
    cells_a, cells_b = _cells(runs_a), _cells(runs_b)
    return StoreComparison(
        a=Path(a), b=Path(b), runs_a=runs_a, runs_b=runs_b,
        tests=paired_tests(pairs, chosen), changes=config_changes(pairs),
        only_a=cells_a[~cells_a.index.isin(cells_b.index)].reset_index(),
        only_b=cells_b[~cells_b.index.isin(cells_a.index)].reset_index(),
        left_out=pd.concat([_left_out(runs_a, pairs["run_id_a"], cells_b.index, "A", "B"),
                            _left_out(runs_b, pairs["run_id_b"], cells_a.index, "B", "A")],
                           ignore_index=True),
        damaged=damaged,
    )


def chosen_metrics(names: list[str]) -> dict[str, Metric]:
    """The metrics `--metric` names, in the order given; an unknown name is a ConfigError."""
    for name in names:
        if name not in METRIC_NAMES:
            raise ConfigError(f"unknown metric '{name}'.{closest(name, list(METRIC_NAMES))} "
                              f"Choose from: {', '.join(METRIC_NAMES)}")
    return {name: METRIC_NAMES[name] for name in names}


def read_store(folder: Path, side: str, damaged: list[str]) -> pd.DataFrame:
    """The runs frame of one side; a missing folder is named as such, not as an empty store. A run
    with a file that does not read whole is left out with a line in `damaged` naming it.

    Labels leave out the parameters that decide a remedy unless they tell two of its specs apart in
    this store: a remedy whose parameter moved between A and B still pairs with itself.
    """
    if not folder.is_dir():
        raise ConfigError(f"store {side} {folder} is not a folder: give a suite folder such as results/demo")
    runs = load_runs(folder, damaged, into=f"the comparison (store {side})")
    return runs.assign(remedy_label=runs["remedy"].map(short_labels(runs["remedy"].unique(), deciding=False)))


def pair_runs(runs_a: pd.DataFrame, runs_b: pd.DataFrame) -> pd.DataFrame:
    """One row per seed finished on both sides, every other column suffixed `_a` / `_b`.

    A cell and seed with two finished runs on one side (runs that differ only
    in a value their remedy sets itself) has no single partner and is left out.
    """
    columns = sorted(set(runs_a) | set(runs_b))
    sides = [_finished_once(runs.reindex(columns=columns)) for runs in (runs_a, runs_b)]
    return sides[0].merge(sides[1], on=PAIR, suffixes=("_a", "_b")).sort_values(PAIR, ignore_index=True)


def _finished_once(runs: pd.DataFrame) -> pd.DataFrame:
    """The finished runs that are alone in their cell and seed: the only ones that can be paired."""
    finished = runs[runs["status"] == FINISHED]
    return finished[~finished.duplicated(PAIR, keep=False)]


def paired_tests(pairs: pd.DataFrame, metrics: dict[str, Metric]) -> pd.DataFrame:
    """Per shared cell and metric: means over the paired seeds, B - A with its 95% t-interval,
    the paired t-test, and Holm's adjustment within each metric over every cell compared."""
    rows = []
    for (_, condition, label), frame in pairs.groupby(CELL, sort=True):
        for name, metric in metrics.items():
            result = paired_t(frame[f"{metric.key}_a"].astype(float), frame[f"{metric.key}_b"].astype(float))
            rows.append({
                "condition": condition, "remedy_label": label, "metric": name, "n": result.n,
                "mean_a": result.mean_a, "mean_b": result.mean_b, "diff": result.diff,
                "ci_low": result.low, "ci_high": result.high, "t": result.t, "df": result.df, "p": result.p,
                "note": result.reason,
            })
    table = pd.DataFrame(rows)
    table["p_holm"] = np.nan
    for _, index in table.groupby("metric").groups.items():
        table.loc[index, "p_holm"] = holm(table.loc[index, "p"].to_numpy())
    table["significant"] = table["p_holm"] < ALPHA
    return table[TABLE_COLUMNS]


def config_changes(pairs: pd.DataFrame) -> pd.DataFrame:
    """The remedy spec and config values that differ between paired runs: key, value in A, in B, pairs."""
    keys = ["remedy", *sorted(c[:-2] for c in pairs if c.endswith("_a") and c.split(".")[0] in SECTIONS)]
    rows = []
    for key in keys:
        before, after = pairs[f"{key}_a"], pairs[f"{key}_b"]
        differ = ~((before == after) | (before.isna() & after.isna()))  # 5 == 5.0 (gaps make floats)
        moved = Counter(zip(before[differ].map(_text), after[differ].map(_text), strict=True))
        rows += [{"key": key, "a": va, "b": vb, "pairs": count} for (va, vb), count in sorted(moved.items())]
    return pd.DataFrame(rows, columns=["key", "a", "b", "pairs"])


def _text(value: object) -> str:
    """A config value as shown; a key one store does not have reads as a dash."""
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs per cell (any status), indexed by CELL."""
    return runs.groupby(CELL, sort=True).size().rename("runs").to_frame()


def _left_out(runs: pd.DataFrame, paired: pd.Series, other_cells: pd.Index, side: str, other: str
              ) -> pd.DataFrame:
    """Runs of cells both stores have that are in no pair, each with the reason why."""
    index = pd.MultiIndex.from_frame(runs[CELL])
    out = runs[index.isin(other_cells) & ~runs["run_id"].isin(paired)]
    twins = runs[runs["status"] == FINISHED].duplicated(PAIR, keep=False).reindex(out.index, fill_value=False)
    why = [
        f"failed: {reason}" if status == FAILED
        else "unfinished (no metrics.json yet)" if status != FINISHED
        else f"two finished runs of this cell and seed in {side}" if twin
        else f"no single finished run of this seed in {other}"
        for status, reason, twin in zip(out["status"], out["reason"], twins, strict=True)
    ]
    return out.assign(side=side, why=why)[["side", "condition", "remedy_label", "seed", "run_id", "why"]]


# ---------------------------------------------------------------- rendering


def render(result: StoreComparison) -> str:
    """The comparison as markdown whose tables are padded: printed as is, and written by --markdown."""
    tests = result.tests
    untestable = int(tests["p"].isna().sum())
    cells = len(tests[["condition", "remedy_label"]].drop_duplicates())
    parts = [
        "# Compare: B against A",
        f"- A: `{result.a}`, {run_counts(result.runs_a)}\n- B: `{result.b}`, {run_counts(result.runs_b)}\n"
        f"- {cells} cell(s) in both, paired on dataset cell, remedy and seed; "
        f"{int(tests['significant'].sum())} of {len(tests)} comparisons significant (Holm-adjusted "
        f"p < {ALPHA})" + (f", {untestable} not testable." if untestable else "."),
        *(["## Damaged runs, left out\n\n" + "\n".join(f"- **{line}**" for line in result.damaged)]
          if result.damaged else []),
        HOW_TO_READ,
        *(_cell_table(condition, frame) for condition, frame in tests.groupby("condition", sort=True)),
    ]
    parts += _apart_sections(result)
    return "\n\n".join(parts) + "\n"


HOW_TO_READ = f"""How to read it:
- n: seeds finished in both stores; mean A, mean B: over those seeds.
- Δ (B - A): mean of the per-seed differences, with its 95% t-interval.
- p: paired t-test of Δ = 0 over the seeds, or why it cannot be made; p (Holm): adjusted within each
  metric over every cell compared; *: p (Holm) < {ALPHA}.
- nll, elbo (-ELBO) in nats/sentence and ppl: lower is better. kl, mi (nats) and au (units): higher =
  less collapse, which is not better per se."""


def _cell_table(condition: str, frame: pd.DataFrame) -> str:
    rows = [
        [r.remedy_label, r.metric, str(r.n), *_numbers(r), "*" if r.significant else ""]
        for r in frame.itertuples()
    ]
    headers = ["remedy", "metric", "n", "mean A", "mean B", "Δ (B - A)", "95% CI of Δ", "p", "p (Holm)", ""]
    right = [False, False, *[True] * 7, False]
    return f"## {condition}\n\n" + markdown_table(headers, rows, right, aligned=True)


def _numbers(r: Any) -> list[str]:
    """mean A, mean B, Δ, its interval, p (or why there is none) and p (Holm) of one row of the tests."""
    digits = METRIC_NAMES[r.metric].digits
    interval = (f"[{signed(r.ci_low, digits)}, {signed(r.ci_high, digits)}]"
                if math.isfinite(r.ci_low) else "—")
    return [number(r.mean_a, digits), number(r.mean_b, digits), signed(r.diff, digits), interval,
            r.note.removeprefix(NOT_TESTABLE) or p_value(r.p), p_value(r.p_holm)]


def _apart_sections(result: StoreComparison) -> list[str]:
    """What differs between the paired runs, and what was not paired: each section only when not empty."""
    sections = []
    if not result.changes.empty:
        rows = [[r.key, r.a, r.b, str(r.pairs)] for r in result.changes.itertuples()]
        sections.append("## What differs between paired runs\n\n" + markdown_table(
            ["key", "A", "B", "pairs"], rows, [False, False, False, True], aligned=True))
    for side, cells in (("A", result.only_a), ("B", result.only_b)):
        if not cells.empty:
            rows = [[r.condition, r.remedy_label, str(r.runs)] for r in cells.itertuples()]
            sections.append(f"## Cells only in {side}\n\n" + markdown_table(
                ["dataset cell", "remedy", "runs"], rows, [False, False, True], aligned=True))
    if not result.left_out.empty:
        rows = [[r.side, r.condition, r.remedy_label, str(r.seed), r.run_id, r.why]
                for r in result.left_out.itertuples()]
        sections.append("## Runs left out of the pairing\n\n" + markdown_table(
            ["store", "dataset cell", "remedy", "seed", "run", "why"], rows,
            [False, False, False, True, False, False], aligned=True))
    return sections
