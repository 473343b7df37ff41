"""`collapse-bench list runs STORE`: the stored runs with their state and headline metrics."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from bench.commands import only_option
from bench.run_states import states_help

_HELP = f"""Run ids in STORE with dataset, remedy, seed, state and test NLL, KL, MI, AU.

STORE is a suite folder (results/demo) or a results folder holding several.
A failed run's reason and what is damaged in a damaged run are printed below
the table. Reads only; writes nothing. The states, what each means, and what
`collapse-bench run` does with it:

\b
{states_help()}
"""


@click.command("runs", help=_HELP, epilog="""\b
Examples:
  collapse-bench list runs results/demo
  collapse-bench list runs results --only remedy=aggressive --only seed=0
  collapse-bench list runs results/demo --json""")
@click.argument("store_dir", metavar="STORE", type=click.Path(exists=True, file_okay=False, path_type=Path))
@only_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_runs(store_dir: Path, only: tuple[str, ...], as_json: bool) -> None:
    """`_HELP` says what it shows: the states' lines come from `bench.run_states`."""
    from bench.inventory import stored_runs
    from bench.markdown import markdown_table
    from bench.selection import parse_only

    selection = parse_only(only)
    runs = selection.pick(stored_runs(store_dir), lambda run: run.fields(), f"runs under {store_dir}")
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(run) for run in runs], indent=2))
        return
    several = len({run.suite for run in runs}) > 1
    headers = [*(["suite"] if several else []), "run id", "dataset", "seed", "state", "NLL", "KL", "MI", "AU",
               "remedy"]
    rows = [[*([run.suite] if several else []), run.run_id, run.dataset or "?",
             "?" if run.seed is None else str(run.seed), run.state.value,
             _number(run.test.get("nll"), 2), _number(run.test.get("kl"), 3), _number(run.test.get("mi"), 3),
             _number(run.test.get("au"), 0), run.remedy or "?"] for run in runs]
    right = [False] * len(headers)
    for column in ("seed", "NLL", "KL", "MI", "AU"):
        right[headers.index(column)] = True
    click.echo(markdown_table(headers, rows, right, aligned=True))
    for run in runs:
        if run.note:
            click.echo(f"{run.state.value} {run.run_id}: {run.note}")


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"
