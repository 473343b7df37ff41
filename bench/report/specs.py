"""What a store says about each run's remedy, read from its files alone (no registry, no plugin).

A run's config.json records, beside its config, its remedy's parts (name,
typed parameters, and the values at which a parameter makes the remedy the
plain VAE) and the settings its `configure` changed (bench/single_run.py). Runs
stored before that record have only the spec: their parts then come from the
spec grammar (`bench.syntax`) with the parameters as written, and the
settings a remedy changed are inferred from the store (`inferred_settings`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.config import REMEDY_RECORD
from bench.errors import ConfigError
from bench.syntax import SpecPart, convert, parse_spec

Part = dict[str, Any]  # {"name": str, "params": {key: value}, "neutral": {key: value}}


def spec_parts(spec: str) -> list[SpecPart]:
    """The parts of a stored spec by the shared grammar; a spec it cannot read is one part named by it."""
    try:
        return parse_spec(spec)
    except ConfigError:
        return [SpecPart(spec, {})]


def recorded_parts(config: dict[str, Any]) -> list[Part]:
    """The remedy's parts as config.json records them, or as its spec spells them (older runs)."""
    record = config.get(REMEDY_RECORD)
    if record is not None:
        return record["parts"]
    return [{"name": part.name, "params": {key: _as_written(text) for key, text in part.params.items()},
             "neutral": {}} for part in spec_parts(config.get("remedy", ""))]


def recorded_settings(config: dict[str, Any]) -> list[str] | None:
    """The config keys (`section.key`) the remedy's `configure` changed; None when the run predates the
    record."""
    record = config.get(REMEDY_RECORD)
    return None if record is None else sorted(record["settings"])


def _as_written(text: str) -> Any:
    """A parameter's text as the number it spells, else the text."""
    for kind in (int, float):
        try:
            return convert(text, kind, "parameter")
        except ConfigError:
            continue
    return text


def inferred_settings(runs: pd.DataFrame, config: list[str]) -> pd.Series:
    """Per run, the keys of `config` (column names) whose value its remedy must have set itself: within
    the run's dataset, only runs of the same remedies (names, any parameters) have that value.

    For runs stored before config.json recorded it. Settings a suite gives several remedies (an
    optimiser for a row group) are shared with other remedies, so they are never taken for the remedy's.
    """
    names = runs["remedy"].map(lambda spec: tuple(part.name for part in spec_parts(spec)))
    owned: dict[Any, list[str]] = {index: [] for index in runs.index}
    for _, frame in runs.groupby("dataset", sort=False):
        for column in config:
            values = frame[column].astype(str)
            holders: dict[str, set[tuple[str, ...]]] = {}
            for index, value in values.items():
                holders.setdefault(value, set()).add(names[index])
            for index, value in values.items():
                if holders[value] == {names[index]}:
                    owned[index].append(column)
    return pd.Series(owned, dtype=object).reindex(runs.index)
