"""`collapse-bench compare STORE_A STORE_B`: the same cells before and after a change, paired seed by seed."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("compare", epilog="""\b
Examples:
  collapse-bench compare results-before/demo results/demo
  collapse-bench compare old/ptb-small results/ptb-small --metric nll --metric kl
  collapse-bench compare old/demo results/demo --markdown compare.md --csv compare.csv

\b
Columns:
  n            seeds finished in both stores (the pairs)
  mean A / B   means over those seeds
  Δ (B - A)    mean of the per-seed differences, with its 95% t-interval
  p            paired t-test of Δ = 0 over the seeds (or why there is none)
  p (Holm)     p adjusted within each metric over every cell compared
  *            p (Holm) < 0.05""")
@click.argument("store_a", metavar="STORE_A", type=click.Path(path_type=Path))
@click.argument("store_b", metavar="STORE_B", type=click.Path(path_type=Path))
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="Compare only this metric, repeatable: nll, ppl, elbo, kl, mi, au  [default: all]")
@click.option("--markdown", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the comparison, as printed, to this markdown file.")
@click.option("--csv", "csv_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write one row per cell and metric (means, Δ, CI, t, df, p, p_holm) to this CSV.")
def compare(store_a: Path, store_b: Path, metrics: tuple[str, ...], markdown: Path | None,
            csv_file: Path | None) -> None:
    """Compare the suite folder STORE_B (after a change) against STORE_A (before it).

    A suite folder is results/<suite>, the one holding runs/<run-id>/. Run the
    suite before the change with another --out, so the runs after it do not
    overwrite or reuse them.

    Runs are paired by dataset cell, remedy and seed, not by run id, since a
    changed default changes every id. The cell and the short remedy label
    (as in `report`) are read within each store, so a remedy whose parameters
    moved still meets its old self; the config values that differ between the
    pairs are listed, with cells found in one store only and runs left out of
    the pairing (failed, unfinished, no partner). A run with a damaged file
    (cut short, corrupted) is named in one line and left out.
    """
    from bench import store
    from bench.report.compare import compare_stores, render

    result = compare_stores(store_a, store_b, list(metrics))
    for line in result.damaged:
        click.echo(f"warning: {line}", err=True)
    text = render(result)
    click.echo(text, nl=False)
    for path, content in ((markdown, text), (csv_file, result.tests.to_csv(index=False))):
        if path is not None:
            store.atomic_write_bytes(path, content.encode())
            click.echo(f"wrote {path}", err=True)
