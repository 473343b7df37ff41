"""Subcommands beyond `train` and `list`, one module each; `bench.cli` registers them.

Heavy imports (torch, pandas, seaborn) go inside the command functions so
`collapse-bench --help` stays fast.
"""

import click

from bench.trackers import TRACKERS

data_dir_option = click.option(
    "--data-dir", envvar="COLLAPSE_BENCH_DATA", default=None,
    help="Folder holding ptb/ and yelp/, the files of ptb-small and yelp-short "
         "(default: $COLLAPSE_BENCH_DATA, else ../shared/data if it exists; synthetic needs none).",
)

log_to_option = click.option(
    "--log-to", "log_to", multiple=True, type=click.Choice(TRACKERS),
    envvar="COLLAPSE_BENCH_LOG_TO",
    help="Also send the training curves (per step) and validation metrics (per epoch) to a tracker; "
         "repeatable. tensorboard: event files in OUT/<suite>/tensorboard/<run-id>/; mlflow: "
         "$MLFLOW_TRACKING_URI, one experiment per suite. Needs the extra of that name; not part "
         "of the run id. [env: COLLAPSE_BENCH_LOG_TO]",
)

only_option = click.option(
    "--only", multiple=True, metavar="KEY=PATTERN",
    help="Keep only what matches; KEY is dataset, remedy or seed, PATTERN a shell wildcard (quote it): "
         "--only 'remedy=aggressive*' --only seed=0. Patterns on one key are alternatives, on "
         "different keys all must hold; a remedy pattern matches the name without parameters or the "
         "full spec. Repeatable.",
)
