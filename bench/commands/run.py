"""`collapse-bench run`: a whole suite in one command, restartable, on one machine or a cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.commands import data_dir_option
from bench.config import parse_overrides

BACKENDS = ("loky", "sequential", "dask")


@click.command(epilog="""\b
Examples:
  collapse-bench run demo
  collapse-bench run demo --backend sequential
  collapse-bench run my-suite.toml --jobs 4 --out /scratch/results
  collapse-bench run ptb-small --set train.epochs=5 --set eval.iw_samples=100
  collapse-bench run he2019 --scheduler-address tcp://10.0.0.5:8786
  collapse-bench run demo --retry-failed""")
@click.argument("suite")
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help="How cells run: loky (local processes), sequential (this process, with per-epoch "
                   "progress) or dask (a local dask cluster, or the one at --scheduler-address). "
                   "[default: loky; dask with --scheduler-address]")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Cells at once (default: one per core; with --scheduler-address: all the "
                   "cluster's threads). Each cell gets cores / jobs torch threads.")
@click.option("--scheduler-address", default=None, metavar="ADDR",
              help="A running dask scheduler, e.g. tcp://host:8786; implies --backend dask. The workers "
                   "need collapse-bench installed and the --out folder (and data) at the same path.")
@click.option("--out", default="results", show_default=True, type=click.Path(path_type=Path),
              help="Root of the results store; runs go to OUT/<suite name>/runs/<run-id>/.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value in every cell, over the suite file's settings; repeatable. "
                   "A changed value makes new run ids, so finished runs are kept, not overwritten.")
@click.option("--retry-failed", is_flag=True,
              help="Run cells recorded as failed again (by default they are skipped and reported).")
@data_dir_option
@click.option("--quiet", is_flag=True, help="No progress bars; only the closing summary.")
def run(suite: str, backend: str | None, jobs: int | None, scheduler_address: str | None, out: Path,
        overrides: tuple[str, ...], retry_failed: bool, data_dir: str | None, quiet: bool) -> None:
    """Run every cell (dataset x remedy x seed) of SUITE: a .toml file or a built-in suite name.

    The whole suite is checked first (schema, remedy specs, values, data
    files); bad input stops with one line and exit code 2 before anything is
    written. Then cells run in parallel, longest first. Finished cells are
    skipped, so running the same command again resumes an interrupted suite:
    a cell cut off mid-training continues from its last epoch. A failing cell
    is recorded with its reason and the suite goes on. Exit code 0 when every
    cell is finished, 1 when any failed. Built-in suites: collapse-bench list
    suites; the format: docs/suites.md.
    """
    from bench.scheduler import run_suite
    from bench.suite import load_suite

    if scheduler_address and backend not in (None, "dask"):
        raise click.UsageError(f"--scheduler-address needs --backend dask, not {backend}")
    if jobs and jobs > 1 and backend == "sequential":
        raise click.UsageError("--jobs does not apply to --backend sequential (one cell at a time)")
    loaded = load_suite(suite, parse_overrides(overrides), data_dir)
    summary = run_suite(
        loaded, out, backend=backend or ("dask" if scheduler_address else "loky"), jobs=jobs,
        scheduler_address=scheduler_address, data_dir=data_dir, retry_failed=retry_failed,
        progress=not quiet,
    )
    click.echo(summary.line())
    for line in summary.problems():
        click.echo(line, err=True)
    sys.exit(summary.exit_code)
