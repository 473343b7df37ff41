"""verdicts.csv and leaderboard.csv as markdown tables: for report.md, and for docs pages built from
the committed CSVs (`bench.report.pages`), so a page's numbers are the CSV's, written one way."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from bench.markdown import markdown_table, number, p_value, signed


def _interval(low: float, high: float, digits: int) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f" [{number(low, digits)}, {number(high, digits)}]"


def escaped_text(row: pd.Series) -> str:
    """`3 / 10 [0.11, 0.60]`: escaped runs of the runs that ran, with the Wilson 95% interval of the rate."""
    if not row["n_seeds"]:
        return "—"
    interval = _interval(row["escape_low"], row["escape_high"], 2)
    return f"{int(row['escaped'])} / {int(row['n_seeds'])}{interval}"


def _with_interval(row: pd.Series, key: str, digits: int) -> str:
    return number(row[key], digits) + _interval(row[f"{key}_low"], row[f"{key}_high"], digits)


def _count(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{int(value)}"


def verdict_markdown(table: pd.DataFrame) -> str:
    """One table per row group: finding, remedy, escaped k / n, control, NLL difference, verdict, reason."""
    headers = ["finding", "remedy", "seeds (ran / planned)", "escaped (Wilson 95%)", "control escaped",
               "ΔNLL vs control [Welch 95%]", "Fisher p (Holm)", "verdict", "why"]
    blocks = []
    for group, frame in table.groupby("row_group", sort=True):
        rows = []
        for _, row in frame.iterrows():
            control = (f"{_count(row['control_escaped'])} / {_count(row['control_n'])}"
                       if isinstance(row["control"], str) and row["control"] else "—")
            nll = signed(row["nll_diff"], 2)
            if math.isfinite(row["nll_low"]):
                nll += f" [{signed(row['nll_low'], 2)}, {signed(row['nll_high'], 2)}]"
            seeds = f"{int(row['n_seeds'])} / {int(row['n_planned'])}"
            rows.append([row["finding"], row["remedy_label"], seeds, escaped_text(row), control, nll,
                         p_value(row["p_fisher_holm"]), f"**{row['verdict']}**", row["reason"]])
        blocks.append(f"#### {group}\n\n" + markdown_table(
            headers, rows, [False, False, True, True, True, True, True, False, False]))
    return "\n\n".join(blocks)


def onset_text(row: Mapping[str, float]) -> str:
    """`1250 (3 / 3)`: the median onset step, and the runs whose curve collapses of those with a curve."""
    if not math.isfinite(row["curve_runs"]) or not row["curve_runs"]:
        return "—"
    return f"{number(row['collapse_onset'], 0)} ({int(row['curve_collapsed'])} / {int(row['curve_runs'])})"


def leaderboard_markdown(board: pd.DataFrame) -> str:
    """One table per row group: NLL with its t-interval; KL, MI, AU with bootstrap intervals; escapes; and
    the collapse onset where the board has it (leaderboard CSVs written before it do not)."""
    onset = "curve_runs" in board
    blocks = []
    for group, frame in board.groupby("row_group", sort=True):
        k = frame["k"].dropna()
        nll = f"NLL (IW, k={int(k.iloc[0])})" if len(k) and (k == k.iloc[0]).all() else "NLL (IW)"
        headers = ["remedy", "n", f"{nll} [t 95%]", "KL [bootstrap 95%]", "MI [bootstrap 95%]",
                   "AU [bootstrap 95%]", "escaped (Wilson 95%)", "wall s / run", "gradient steps / run",
                   *(["collapse onset: median step (runs)"] if onset else [])]
        rows = [[row["remedy_label"], f"{int(row['n_seeds'])}", _with_interval(row, "nll", 2),
                 _with_interval(row, "kl", 3), _with_interval(row, "mi", 3), _with_interval(row, "au", 1),
                 escaped_text(row), number(row["wall_s"], 0), number(row["gradient_steps"], 0),
                 *([onset_text(row)] if onset else [])]
                for _, row in frame.iterrows()]
        right = [False] + [True] * (len(headers) - 1)
        blocks.append(f"#### {group}\n\n" + markdown_table(headers, rows, right))
    return "\n\n".join(blocks)
