"""`collapse-bench config show`: every setting, its value, where the value comes from and what it means."""

from __future__ import annotations

import copy
import json
from typing import Any

import click

VALUE_WIDTH = 24  # a longer value (a remedy spec) overflows its column rather than widen every line


@click.group("config")
def config() -> None:
    """Inspect the settings a run is made of."""


@config.command("show", epilog="""\b
Examples:
  collapse-bench config show
  collapse-bench config show --dataset ptb-small
  collapse-bench config show --dataset ptb-small --remedy bn-vae
  collapse-bench config show --dataset yelp-short --json""")
@click.option("--dataset", default=None,
              help="Show this dataset's defaults applied (its paper's model sizes, batch and epochs); a "
                   "corpus of your own (docs/datasets.md) shows what it records of its files too.")
@click.option("--remedy", default="none", show_default=True,
              help="Show what this remedy spec sets on top (e.g. bn-vae: the init scheme and patience).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(dataset: str | None, remedy: str, as_json: bool) -> None:
    """Every setting with its value, its source and its meaning.

    Sources: default (the harness's own), dataset (the --dataset's defaults),
    remedy (what the --remedy sets). Change any setting with --set KEY=VALUE on
    `train` and `run`, or in a suite file's [SECTION] table (docs/suites.md).
    Changing one makes a new run id.
    """
    from bench.config import RunConfig, build_config, describe_settings
    from remedies import registry

    parsed = registry.parse(remedy)
    with_dataset = build_config(dataset, "none", 0, {}) if dataset else RunConfig()
    with_remedy = parsed.configure(copy.deepcopy(with_dataset))
    with_remedy.remedy = parsed.spec()
    rows = describe_settings(with_remedy)
    remedy_values, dataset_values, plain_values = (_values(cfg) for cfg in (with_remedy, with_dataset,
                                                                            RunConfig()))
    for row in rows:
        key = row["key"]
        row["source"] = ("remedy" if remedy_values[key] != dataset_values[key]
                         else "dataset" if dataset_values[key] != plain_values[key] else "default")
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=list))
        return
    what = (f"Settings of a run on {dataset}" if dataset
            else "The harness's defaults, before a dataset sets its sizes (--dataset shows them)")
    click.echo(f"{what}, remedy {with_remedy.remedy}. Change one with --set KEY=VALUE or in a suite file.")
    _echo_rows(rows)


def _values(cfg: Any) -> dict[str, Any]:
    from bench.config import describe_settings

    return {row["key"]: row["value"] for row in describe_settings(cfg)}


def _echo_rows(rows: list[dict[str, Any]]) -> None:
    """Rows under their section's heading, in aligned columns; a changed value names its default."""
    value_width = min(VALUE_WIDTH, max(len(_text(row["value"])) for row in rows))
    key_width, source_width = (max(len(row[column]) for row in rows) for column in ("key", "source"))
    section = None
    for row in rows:
        if row["section"] != section:
            section = row["section"]
            heading = f"[{row['key'].split('.')[0]}]" if "." in row["key"] else "run:"
            click.echo(f"\n{heading} {section}")
        meaning = row["meaning"]
        if row["value"] != row["default"]:
            meaning += f" (default {_text(row['default'])})"
        click.echo(f"  {row['key']:<{key_width}}  {_text(row['value']):<{value_width}}  "
                   f"{row['source']:<{source_width}}  {meaning}")


def _text(value: Any) -> str:
    """A value as --set takes it: `1,2,4` for a tuple, `true` for a boolean; a recorded dict (your
    corpus's sha256) as `train=...,test=...`."""
    if isinstance(value, dict):
        return ",".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
