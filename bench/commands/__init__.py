"""Subcommands beyond `train` and `list`, one module each; `bench.cli` registers them.

Heavy imports (torch, pandas, seaborn) go inside the command functions so
`collapse-bench --help` stays fast.
"""

import click

data_dir_option = click.option(
    "--data-dir", envvar="COLLAPSE_BENCH_DATA", default=None,
    help="Folder holding ptb/ and yelp/, the files of ptb-small and yelp-short "
         "(default: $COLLAPSE_BENCH_DATA, else ../shared/data if it exists; synthetic needs none).",
)
