"""Command line: parse, resolve, run. Every check happens before any work.

Library code raises `ConfigError` for bad input; `main` turns it into one
`Error: ...` line on stderr and exit code 2, with nothing written. Ctrl-C and
SIGTERM stop a command with one line and exit code 130 or 143; what was
stored stays whole, and the same command resumes.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from bench.commands import data_dir_option, log_to_option
from bench.config import PRECISIONS, parse_overrides
from bench.errors import ConfigError


class UserError(click.ClickException):
    """One line on stderr, exit code 2."""

    exit_code = 2



class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so both unwind the same way: joblib
    stops the workers, an atomic write removes its temporary file, run locks are released."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises Interrupted while a command runs (signals reach the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Group(click.Group):
    """Turns a library `ConfigError` into a one-line usage error (exit 2), and Ctrl-C or SIGTERM into
    one line and exit code 128 + the signal, wherever raised."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            with _sigterm_interrupts():
                return super().invoke(ctx)
        except ConfigError as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt as exc:
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            click.echo(f"Interrupted by {signal.Signals(signum).name}: finished runs and each run's last "
                       "epoch checkpoint are kept; the same command again resumes from there.", err=True)
            ctx.exit(128 + signum)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="collapse-bench")
def cli() -> None:
    """collapse-bench: measure posterior collapse in sentence VAEs and compare its remedies.

    A run trains one VAE (dataset x remedy x seed) and stores its test NLL, PPL,
    KL, mutual information I(x;z) and active units under
    OUT/<suite>/runs/<run-id>/. Start with `collapse-bench list remedies`.
    """


@cli.command(epilog="""\b
Examples:
  collapse-bench train --dataset synthetic --remedy none --seed 0
  collapse-bench train --dataset synthetic --remedy "kl-annealing(epochs=10)+word-dropout(keep=0.5)"
  collapse-bench train --dataset ptb-small --remedy aggressive --set train.epochs=5 --set model.nz=16
  collapse-bench train --dataset synthetic --set eval.iw_samples=100 --out /tmp/results
  collapse-bench train --dataset synthetic --log-to tensorboard --log-to mlflow
  collapse-bench train --dataset my-corpus/          # train.txt, valid.txt, test.txt
  collapse-bench train --dataset reviews.tsv         # one file (label<TAB>text lines), cut 80/10/10
  collapse-bench train --dataset train=a.txt,valid=b.txt,test=c.txt
  collapse-bench train --dataset hf:imdb --set data.text_column=text""")
@click.option("--dataset", default="synthetic", show_default=True,
              help="A dataset name (see `collapse-bench list datasets`), a folder or file of your own, "
                   "train=PATH,valid=PATH,test=PATH, or hf:NAME[:CONFIG] (docs/datasets.md).")
@click.option("--remedy", default="none", show_default=True,
              help="Remedy spec: name, name(key=value,...), or a+b to combine; "
                   "see `collapse-bench list remedies`.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the run (model init, dropout, sampling).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value, repeatable: model.nz=16, train.epochs=5, "
                   "eval.iw_samples=100, data.max_len=50. Unknown keys are errors.")
@click.option("--out", default="results", show_default=True, type=click.Path(path_type=Path),
              help="Root of the results store.")
@click.option("--suite", default="train", show_default=True,
              help="Suite folder the run is filed under (OUT/SUITE/runs/<run-id>).")
@data_dir_option
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="Where to train and evaluate (default cpu; same as --set train.device=...).")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Autocast precision of the training steps (default fp32; same as --set "
                   "train.precision=...). The final evaluation has its own: --set eval.precision=bf16.")
@log_to_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(dataset: str, remedy: str, seed: int, overrides: tuple[str, ...], out: Path, suite: str,
          data_dir: str | None, device: str | None, precision: str | None, log_to: tuple[str, ...],
          quiet: bool) -> None:
    """Train one run, evaluate it on the test split, and store it.

    Writes config.json, metrics.json (IW NLL, PPL, KL, MI, AU, timings,
    versions), the training curve and model.pt. Running the same command again
    finds the finished run (same run id = same resolved config) and does no work.
    """
    from bench import store
    from bench.single_run import execute, plan_run, resolve
    from bench.trackers import check_trackers

    settings = dict(parse_overrides(overrides))
    if device:
        settings["train.device"] = device
    if precision:
        settings["train.precision"] = precision
    run = resolve(dataset, remedy, seed, settings)
    cfg = run.config
    plan = plan_run(run, data_dir)
    check_trackers(log_to)
    metrics = execute(plan, out, suite, progress=not quiet, log_to=log_to)
    folder = store.run_dir(out, suite, cfg.run_id())
    if metrics["status"] != "finished":
        click.echo(f"run {cfg.run_id()} failed: {metrics['reason']} ({folder})", err=True)
        sys.exit(1)
    test = metrics["test"]
    click.echo(
        f"run {cfg.run_id()} finished: NLL {test['nll']:.2f}  PPL {test['ppl']:.2f}  KL {test['kl']:.3f}  "
        f"MI {test['mi']:.3f}  AU {test['au']}/{cfg.model.nz}  -> {folder}"
    )


@cli.group("list", cls=Group)
def list_() -> None:
    """Show what can be named: datasets, remedies, suites; and the runs a store holds."""


@list_.command("datasets", epilog="""\b
Examples:
  collapse-bench list datasets
  collapse-bench list datasets --json
  collapse-bench train --dataset my-corpus/""")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_datasets(as_json: bool) -> None:
    """Datasets by name, with where their files come from and the sizes they train with; then the
    forms a corpus of your own takes.

    Installed plugin packages (entry-point group collapse_bench.datasets)
    appear here too. --set changes any size.
    """
    from bench.data.datasets import describe_datasets
    from bench.data.spec import USER_CORPUS_SIZES

    _echo_listing(describe_datasets(), as_json, _dataset_detail)
    if not as_json:
        click.echo("\nYour own corpus (docs/datasets.md): one sentence a line, or label<TAB>text (the probe "
                   f"predicts the labels);\nsizes: {USER_CORPUS_SIZES.describe()}")
        for form, what in _OWN_CORPUS_FORMS:
            click.echo(f"  --dataset {form:<34}{what}")


_OWN_CORPUS_FORMS = (
    ("FOLDER", "train.txt, valid.txt, test.txt (or NAME.train.txt, ...)"),
    ("FILE", "one file, cut 80/10/10 by data.split_seed"),
    ("train=PATH,valid=PATH,test=PATH", "a file per split; a missing valid or test is cut from train"),
    ("hf:NAME[:CONFIG] or hf:FOLDER", "Hugging Face datasets (pip install 'collapse-bench[hf]'), "
     "column data.text_column"),
)


def _dataset_detail(row: dict) -> str:
    """Source, then sizes, labels and plugin on a second line."""
    from bench.data.spec import Sizes

    if row["sizes"] is None:  # a broken plugin
        return f"plugin: {row['plugin']}"
    plugin = f"; plugin: {row['plugin']}" if row["plugin"] else ""
    labels = "; labelled" if row["labelled"] else ""
    return f"source: {row['source']}\nsizes: {Sizes(**row['sizes']).describe()}{labels}{plugin}"


def _echo_listing(rows: list[dict], as_json: bool, detail: Callable[[dict], str]) -> None:
    """Name and description per row, indented detail lines under each; or the rows as JSON."""
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        click.echo(f"{row['name']:<{width}}  {row['description']}")
        for line in detail(row).splitlines():
            click.echo(f"{'':<{width}}  {line}")


@list_.command("remedies", epilog="""\b
Examples:
  collapse-bench list remedies
  collapse-bench list remedies --json
  collapse-bench train --remedy "cyclical(cycles=4,ratio=0.5)" """)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_remedies(as_json: bool) -> None:
    """Remedies by name: what each does, its parameters with defaults, and its paper.

    Installed plugin packages (entry-point group collapse_bench.remedies) appear
    here too. Parameters are given as name(key=value,...); remedies combine with +.
    """
    from bench.syntax import format_value
    from remedies.registry import describe

    rows = describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        params = ", ".join(f"{key}={format_value(v)}" for key, v in row["parameters"].items()) or "-"
        click.echo(f"{row['name']}: {row['description']}")
        click.echo(f"    parameters: {params}")
        if row["paper"]:
            click.echo(f"    paper: {row['paper']}")


@list_.command("suites", epilog="""\b
Examples:
  collapse-bench list suites
  collapse-bench list suites --json
  collapse-bench run demo""")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_suites(as_json: bool) -> None:
    """Built-in suites by name: what each measures, the paper and claim it tests, its cost, its
    datasets and its number of distinct cells.

    `collapse-bench run NAME` runs one; copy its file (shown) to start your own.
    """
    from bench.suite import describe_suites

    def detail(row: dict) -> str:
        texts = [f"{key}: {row[key]}" for key in ("paper", "claim", "cost") if row[key]]
        count = f"{row['cells']} cell{'' if row['cells'] == 1 else 's'}"
        return "\n".join([*texts, f"{count} on {', '.join(row['datasets'])}; file: {row['path']}"])

    _echo_listing(describe_suites(), as_json, detail)


from bench.commands.compare import compare  # noqa: E402
from bench.commands.config import config  # noqa: E402
from bench.commands.diagnose import diagnose  # noqa: E402
from bench.commands.evaluate import evaluate  # noqa: E402
from bench.commands.probe import probe  # noqa: E402
from bench.commands.report import report  # noqa: E402
from bench.commands.run import run  # noqa: E402
from bench.commands.runs import list_runs  # noqa: E402
from bench.commands.samples import samples  # noqa: E402

cli.add_command(run)
cli.add_command(report)
cli.add_command(compare)
cli.add_command(evaluate)
cli.add_command(samples)
cli.add_command(diagnose)
cli.add_command(probe)
cli.add_command(config)
list_.add_command(list_runs)


def main() -> None:
    """Console-script entry."""
    cli(prog_name="collapse-bench")


if __name__ == "__main__":
    main()
