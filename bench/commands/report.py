"""`collapse-bench report STORE`: tables, tests and figures of a suite, ready for a paper."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report", epilog="""\b
Examples:
  collapse-bench report results/demo
  collapse-bench report results/demo --baseline kl-annealing
  collapse-bench report results/ptb-sweep --out paper/tables""")
@click.argument("store_dir", metavar="STORE", type=click.Path(path_type=Path, file_okay=False))
@click.option("--baseline", default="none", show_default=True,
              help="Remedy every other remedy is tested against: a full spec, a short label or a name.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder to write into  [default: STORE/report]")
def report(store_dir: Path, baseline: str, out: Path | None) -> None:
    """Summarise the suite folder STORE (results/<suite>) into report.md, CSVs, table.tex and figures.

    Tables: one row per run (runs.csv); mean, SD and 95% t-interval per
    dataset and remedy, failed runs counted apart (summary.csv); Welch's
    t-test against the baseline with Holm's correction and Hedges' g
    (significance.csv); table.tex for a paper. Figures, as PNG and PDF:
    metrics with CIs, KL and KL weight over training, MI and AU over
    training, NLL against MI, He et al.'s posterior-mean space (nz = 1 runs
    with snapshots), the CNN receptive field, and any numeric remedy
    parameter the suite sweeps (word-dropout's keep rate). Warns when a
    dataset's validation and test splits are one file. Reads the store's
    files only: a remedy's plugin need not be installed.
    """
    from bench.report import build_report

    result = build_report(store_dir, out, baseline)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.baseline is None:
        click.echo(f"warning: no run of the baseline '{baseline}' in {store_dir}; significance tests "
                   "skipped (see --baseline)", err=True)
    target = result.out / "report.md"
    runs = f"{result.runs} run" + ("s" if result.runs != 1 else "")
    click.echo(f"report of {runs} with {len(result.figures)} figures -> {target}")
