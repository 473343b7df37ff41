"""`collapse-bench run`: a whole suite in one command, restartable, on one machine or a cluster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bench.commands import data_dir_option, log_to_option, only_option
from bench.config import parse_overrides

if TYPE_CHECKING:
    from bench.suite import Cell, Suite

BACKENDS = ("loky", "sequential", "dask")


@click.command(epilog="""\b
Examples:
  collapse-bench run demo
  collapse-bench run demo --backend sequential
  collapse-bench run my-suite.toml --jobs 4 --out /scratch/results
  collapse-bench run ptb-small --set train.epochs=5 --set eval.iw_samples=100
  collapse-bench run he2019 --scheduler-address tcp://10.0.0.5:8786
  collapse-bench run demo --retry-failed
  collapse-bench run demo --dry-run --only 'remedy=kl-annealing*' --only seed=0
  collapse-bench run demo --only dataset=synthetic --only seed=0 --log-to tensorboard""")
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
              help="Run cells recorded as failed again (by default they are skipped and reported); "
                   "a cell whose process was killed resumes from its last epoch.")
@only_option
@click.option("--dry-run", is_flag=True,
              help="List the cells (dataset, remedy, seed, run id, state in the store, share of the "
                   "estimated work) and stop; writes nothing.")
@data_dir_option
@log_to_option
@click.option("--quiet", is_flag=True, help="No progress bars; only the closing summary.")
def run(suite: str, backend: str | None, jobs: int | None, scheduler_address: str | None, out: Path,
        overrides: tuple[str, ...], retry_failed: bool, only: tuple[str, ...], dry_run: bool,
        data_dir: str | None, log_to: tuple[str, ...], quiet: bool) -> None:
    """Run every cell (dataset x remedy x seed) of SUITE: a .toml file or a built-in suite name.

    The whole suite is checked first (schema, remedy specs, values, data
    files); bad input stops with one line and exit code 2 before anything is
    written. Then cells run in parallel, longest first. Finished cells are
    skipped, so running the same command again resumes an interrupted suite:
    a cell cut off mid-training continues from its last epoch. A failing cell
    is recorded with its reason and the suite goes on; so is a cell whose
    process is killed (by the out-of-memory killer, say): with loky and dask
    each cell runs in a process of its own. Exit code 0 when every cell is
    finished, 1 when any failed. Built-in suites: collapse-bench list
    suites; the format: docs/suites.md.
    """
    from bench.scheduler import run_suite
    from bench.selection import parse_only
    from bench.suite import load_suite
    from bench.trackers import check_trackers

    if scheduler_address and backend not in (None, "dask"):
        raise click.UsageError(f"--scheduler-address needs --backend dask, not {backend}")
    if jobs and jobs > 1 and backend == "sequential":
        raise click.UsageError("--jobs does not apply to --backend sequential (one cell at a time)")
    selection = parse_only(only)
    loaded = load_suite(suite, parse_overrides(overrides), data_dir)
    cells = tuple(selection.pick(loaded.cells, _fields, f"cells of suite {loaded.name}"))
    if dry_run:
        _echo_dry_run(loaded, cells, out, retry_failed)
        return
    check_trackers(log_to)
    summary = run_suite(
        loaded, out, backend=backend or ("dask" if scheduler_address else "loky"), jobs=jobs,
        scheduler_address=scheduler_address, data_dir=data_dir, retry_failed=retry_failed,
        progress=not quiet, log_to=log_to, only=cells if selection else None,
    )
    click.echo(summary.line())
    for line in summary.problems():
        click.echo(line, err=True)
    sys.exit(summary.exit_code)


def _fields(cell: Cell) -> tuple[str, str, int]:
    return cell.config.dataset, cell.config.remedy, cell.config.seed


def _echo_dry_run(suite: Suite, cells: tuple[Cell, ...], out: Path, retry_failed: bool) -> None:
    """The cells with their state in the store and their share of the whole suite's work as the
    scheduler estimates it (model passes: it orders cells, and knows no remedy's extra work), then
    what `run` would do with them."""
    from bench import store
    from bench.inventory import run_state
    from bench.markdown import markdown_table
    from bench.run_states import Action, next_action
    from bench.scheduler import estimated_cost

    states = [run_state(store.run_dir(out, suite.name, cell.run_id)) for cell in cells]
    actions = [next_action(state, retry_failed) for state in states]
    costs = [estimated_cost(cell) for cell in cells]
    total = sum(estimated_cost(cell) for cell in suite.cells) or 1.0
    rows = [[cell.config.dataset, str(cell.config.seed), cell.run_id, state.value,
             f"{100 * cost / total:.1f}%", cell.config.remedy]
            for cell, state, cost in zip(cells, states, costs, strict=True)]
    click.echo(markdown_table(["dataset", "seed", "run id", "state", "work", "remedy"], rows,
                              [False, True, False, False, True, False], aligned=True))
    runs = [cost for action, cost in zip(actions, costs, strict=True) if action is not Action.SKIP]
    counts = ", ".join(f"{states.count(state)} {state.value}" for state in dict.fromkeys(states))
    click.echo(f"{suite.name}: {len(cells)} of {len(suite.cells)} cells ({counts}); `run` would train "
               f"{len(runs)} ({actions.count(Action.RESUME)} from a checkpoint), "
               f"{100 * sum(runs) / total:.0f}% of the suite's estimated work. Nothing was written.")
