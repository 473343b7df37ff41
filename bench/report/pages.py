"""Docs pages whose tables are the committed CSVs: each table sits between markers naming its file.

    <!-- table: results/yelp-short/leaderboard.csv -->
    ...generated markdown...
    <!-- end table -->

The path is relative to the page. `python -m bench.report.pages docs/results.md` rewrites every
block from its CSV; `tests/test_results_page.py` fails when a block differs from what its CSV gives,
or when the page holds a table outside a block, so no number on the page can drift from its file.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bench.markdown import markdown_table, number
from bench.report.fidelity_tables import side_by_side_markdown
from bench.report.mission import mission_markdown
from bench.report.verdict_tables import leaderboard_markdown, verdict_markdown

BLOCK = re.compile(r"(<!-- table: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)


def k_gap_markdown(table: pd.DataFrame) -> str:
    """benchmarks/k_gap.py's CSV: the k = 50 minus k = 500 NLL per run, and per group of escaped or not."""
    rows = [[row["remedy_label"], str(int(row["seed"])), "yes" if row["escaped"] else "no",
             number(row["nll_k50"], 3), number(row["nll_k500"], 3), number(row["gap"], 3)]
            for _, row in table.sort_values(["escaped", "remedy_label", "seed"]).iterrows()]
    per_run = markdown_table(["remedy", "seed", "escaped", "NLL k=50", "NLL k=500", "gap (nats)"], rows,
                             [False, True, False, True, True, True])
    groups = [["yes" if escaped else "no", str(len(frame)), number(frame["gap"].mean(), 3),
               number(frame["gap"].min(), 3), number(frame["gap"].max(), 3)]
              for escaped, frame in table.groupby("escaped", sort=True)]
    summary = markdown_table(["escaped", "runs", "mean gap", "min", "max"], groups,
                             [False, True, True, True, True])
    return per_run + "\n\n" + summary


def bn_variance_markdown(table: pd.DataFrame) -> str:
    """benchmarks/bn_variance.py's CSV: per BN run, its BatchNorm's running variance against eps and the
    KL floor that leaves at evaluation beside the nominal one."""
    rows = [[row["remedy_label"], str(int(row["seed"])), "yes" if row["escaped"] else "no",
             number(row["test_kl"], 3), f"{row['running_var_median']:.1e} [{row['running_var_min']:.1e}, "
             f"{row['running_var_max']:.1e}]", f"{int(row['units_var_above_eps'])} / {int(row['nz'])}",
             number(row["floor_nominal"], 2), number(row["floor_at_eval"], 4)]
            for _, row in table.sort_values(["remedy_label", "seed"]).iterrows()]
    eps = table["eps"].unique()
    unit = f"eps = {eps[0]:g}" if len(eps) == 1 else "eps"
    return markdown_table(["remedy", "seed", "escaped", "test KL", "running variance: median [min, max]",
                           f"units above {unit}", "floor nz γ²/2", "floor at evaluation"], rows,
                          [False, True, False, True, True, True, True, True])


def cnn_context_markdown(table: pd.DataFrame) -> str:
    """benchmarks/cnn_context.py's CSV: per dataset and CNN size, how much of each sentence's history
    the decoder sees."""
    rows = [[row["dataset"], row["size"], str(int(row["receptive_field"])),
             f"{row['mean_targets']:.1f} ({int(row['max_targets'])})",
             number(row["share_targets_whole_history"], 4), number(row["share_sentences_inside"], 4)]
            for _, row in table.iterrows()]
    return markdown_table(["dataset", "CNN size", "receptive field", "targets a sentence: mean (max)",
                           "targets that see their whole history", "sentences inside the field"], rows,
                          [False, False, True, True, True, True])


def perf_bounds_markdown(table: pd.DataFrame) -> str:
    """benchmarks/perf.py's `--csv`: each measurement beside its ceilings, and how many times slower than
    its FLOP bounds it ran (all matrix products; the output layer's product alone); measured with
    --before, the old revision's median and the speed-up over it first."""
    def bound(value: float, unit: str) -> str:
        return "—" if pd.isna(value) else f"{value:,.2f} {unit}"

    def times(value: float) -> str:
        return "—" if pd.isna(value) else f"{value:.2f}x"

    compared = "before" in table and table["before"].notna().any()
    rows = [[row["measurement"], f"{row['cpu']}, {int(row['threads'])} thread(s), {row['measured_on']}",
             *([f"{bound(row['before'], row['unit'])} ({row['before_revision']})"] if compared else []),
             bound(row["value"], row["unit"]),
             *([times(row["speedup_over_before"])] if compared else []),
             f"{bound(row['big_kernels'], row['unit'])} ({bound(row['output_layer_kernels'], row['unit'])})",
             bound(row["matmul_flop_bound"], row["unit"]), bound(row["output_layer_flop_bound"], row["unit"]),
             f"{times(row['times_matmul_flop_bound'])} / {times(row['times_output_layer_flop_bound'])}"]
            for _, row in table.iterrows()]
    header = ["measurement", "machine", *(["before: median (revision)"] if compared else []),
              "measured" + (": median" if compared else ""), *(["speed-up over before"] if compared else []),
              "big kernels (output layer alone)", "FLOP bound: all products",
              "FLOP bound: output layer alone", "times slower than the bounds (all / output layer)"]
    return markdown_table(header, rows, [False, False] + [True] * (len(header) - 2))


def reference_figures_markdown(table: pd.DataFrame) -> str:
    """The ranges measured with He et al.'s code (docs/results/speed/reference-figures.csv), one row per
    work, the sizes side by side; benchmarks/perf.py takes each range's midpoint as its reference."""
    def cell(row: pd.Series) -> str:
        low, high = f"{row['low']:,g}", f"{row['high']:,g}"
        text = f"{low} {row['unit']}" if low == high else f"{low}-{high} {row['unit']}"
        return text if pd.isna(row["note"]) else f"{text} ({row['note']})"

    cells = {(row["work"], row["size"]): cell(row) for _, row in table.iterrows()}
    works, sizes = list(dict.fromkeys(table["work"])), list(dict.fromkeys(table["size"]))
    rows = [[work, *(cells.get((work, size), "—") for size in sizes)] for work in works]
    return markdown_table(["work", *sizes], rows, [False] * (1 + len(sizes)))


RENDERERS: dict[str, Callable[[pd.DataFrame], str]] = {
    "verdicts.csv": verdict_markdown,
    "leaderboard.csv": leaderboard_markdown,
    "k-gap.csv": k_gap_markdown,
    "bn-variance.csv": bn_variance_markdown,
    "cnn-context.csv": cnn_context_markdown,
    "mission.csv": mission_markdown,
    "perf.csv": perf_bounds_markdown,
    "reference-figures.csv": reference_figures_markdown,
    "side-by-side.csv": side_by_side_markdown,  # side_by_side.py --csv, as SETTING.side-by-side.csv
}


def save_table(table: pd.DataFrame, out: Path) -> None:
    """Write a measurement script's table where a page's block will draw it from, and echo it, so the
    person running the script sees what the page will say."""
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_string(index=False))


def render(csv: Path) -> str:
    """The markdown of one committed table, by its file name, or by the name's end after a dot, so one page
    can hold several tables of a kind (`li-beta-0.1.side-by-side.csv`)."""
    key = next((key for key in RENDERERS if csv.name == key or csv.name.endswith("." + key)), None)
    if key is None:
        raise ValueError(f"{csv}: no table is drawn from a file named {csv.name} "
                         f"(known: {', '.join(RENDERERS)})")
    return RENDERERS[key](pd.read_csv(csv)) + "\n"


def refreshed(page: Path) -> str:
    """The page's text with every block regenerated from its CSV."""
    text = page.read_text(encoding="utf-8")
    return BLOCK.sub(lambda match: match.group(1) + render(page.parent / match.group("path"))
                     + match.group(4), text)


def blocks(page: Path) -> list[tuple[str, str]]:
    """(path, body) of each block, as the page has them."""
    return [(m.group("path"), m.group("body")) for m in BLOCK.finditer(page.read_text(encoding="utf-8"))]


def loose_table_lines(page: Path) -> list[str]:
    """Markdown table lines outside every block: numbers that no CSV stands behind."""
    outside = BLOCK.sub("", page.read_text(encoding="utf-8"))
    in_code = False
    lines = []
    for line in outside.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("|"):
            lines.append(line)
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.report.pages PAGE.md  (rewrites the page's tables from their CSVs)",
              file=sys.stderr)
        return 2
    page = Path(argv[0])
    page.write_text(refreshed(page), encoding="utf-8")
    print(f"{page}: {len(blocks(page))} tables rewritten from their CSVs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
