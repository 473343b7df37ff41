"""Side-by-side tables: the authors' code against the harness, one row per cell (a metric at an epoch's
validation or the final test), each decided by the equivalence rule of docs/fidelity.md.

benchmarks/side_by_side.py builds the rows from its runs, prints them with `side_by_side_markdown` and
writes them with `--csv`; docs/fidelity.md draws its re-run tables from those CSVs with the same
function, so the page and the script's output cannot say different things.
"""

from __future__ import annotations

import math
from collections import Counter

import pandas as pd

from bench.markdown import markdown_table

ALPHA = 0.05  # both one-sided tests of TOST, and the Welch p a "not shown" cell is flagged at
EQUIVALENT, NOT_SHOWN, IDENTICAL, DIFFERENT, UNTESTED = (
    "equivalent", "not-shown", "identical", "different", "untested")
KINDS = {  # how the summary line names each kind of decision, in its order
    EQUIVALENT: "equivalent",
    NOT_SHOWN: "not shown equivalent",
    IDENTICAL: "constant and identical on both sides (not counted as agreement)",
    DIFFERENT: "constant and different",
    UNTESTED: "not testable",
}
COMPARED = ("kl", "mi", "au", "loss")  # what a comparison holds when the authors' script prints it all
COLUMNS = ("split", "metric", "margin", "authors_n", "authors_mean", "authors_sd", "harness_n",
           "harness_mean", "harness_sd", "decision", "tost_p", "welch_p", "reason",
           "authors_wall_s", "authors_found_finished", "harness_wall_s", "harness_found_finished")


def side_text(n: int, mean: float, sd: float) -> str:
    """mean ± sd over seeds; the value alone for one seed."""
    return f"{mean:.2f}" if n == 1 else f"{mean:.2f} ± {sd:.2f}"


def decision_text(row: pd.Series) -> str:
    """What the table's decision column says of one cell."""
    kind = row["decision"]
    if kind == IDENTICAL:
        return f"constant, identical ({row['authors_mean']:g})"
    if kind == DIFFERENT:
        return f"constant, different ({row['authors_mean']:g} vs {row['harness_mean']:g})"
    if kind == UNTESTED:
        return f"- ({row['reason']})"
    if kind == EQUIVALENT:
        return f"equivalent (TOST p={row['tost_p']:.3f})"
    return f"not shown (TOST p={row['tost_p']:.2f}; Welch p={row['welch_p']:.3f})"


def summary(frame: pd.DataFrame) -> str:
    """How many cells of each kind: equivalence shown, not shown (and of those, how many Welch flags),
    constants identical and constants different; 'not testable' only where there is one."""
    counts = Counter(frame["decision"])
    flagged = int((frame["welch_p"] < ALPHA).sum())
    parts = [f"{counts[kind]} {label}" + (f" ({flagged} of them with Welch p < {ALPHA:g})"
                                          if kind == NOT_SHOWN else "")
             for kind, label in KINDS.items() if kind != UNTESTED or counts[kind]]
    return f"{len(frame)} cells: " + ", ".join(parts) + "."


def wall_text(side: str, mean_s: float, found_finished: int, runs: int) -> str:
    """Mean wall time of a side's runs that trained; runs found finished in the store cost nothing now and
    are named instead of pulling the mean down."""
    mean = "-" if math.isnan(mean_s) else f"{mean_s:.0f} s"
    return f"{side} {mean}" + (f" ({found_finished} of {runs} found already finished)" if found_finished
                               else "")


def side_by_side_markdown(frame: pd.DataFrame) -> str:
    """The cells as a table (mean ± sd over seeds a side, the decision), then the count of each kind, the
    margins, the wall time per run and the metrics the authors' script does not print."""
    rows = [[row["split"], row["metric"], side_text(row["authors_n"], row["authors_mean"], row["authors_sd"]),
             side_text(row["harness_n"], row["harness_mean"], row["harness_sd"]), decision_text(row)]
            for _, row in frame.iterrows()]
    table = markdown_table(["split", "metric", "authors", "harness", "decision"], rows,
                           [False, False, False, False, False])
    margins = ", ".join(f"{metric} {margin:g}" for metric, margin
                        in frame.drop_duplicates("metric")[["metric", "margin"]].itertuples(index=False))
    first = frame.iloc[0]
    walls = ", ".join(wall_text(side, first[f"{side}_wall_s"], int(first[f"{side}_found_finished"]),
                                int(first[f"{side}_n"])) for side in ("authors", "harness"))
    compared = {"mi" if metric == "mi_batch" else metric for metric in frame["metric"]}
    lines = [table, "", summary(frame),
             f"Equivalence: two one-sided Welch tests at {ALPHA:g}, margins {margins} (fixed before the "
             "runs, docs/fidelity.md).",
             f"Wall time per run, mean: {walls} (1 thread each).",
             "`loss` is the negative ELBO, one z sample."]
    unprinted = [metric for metric in COMPARED if metric not in compared]
    if unprinted:
        lines.append(f"Not compared: {', '.join(unprinted)} (the authors' script prints none).")
    return "\n".join(lines)
