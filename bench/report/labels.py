"""Labels and row groups of the runs frame: what a remedy and a cell are called in tables and figures.

A remedy's short label (`short_labels`) keeps the parameters that decide it
or tell it apart from another stored spec; a cell (row group) is a dataset
with the config values that set its runs apart (`cell_settings`), titled by
the label its suite file gives it where that names one cell
(`condition_titles`, `row_group_labels`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bench import store
from bench.config import SECTIONS
from bench.report.specs import inferred_settings, spec_parts

_CONFIG_KEYS_NOT_SETTINGS = {"data.name"}  # the dataset itself


def row_group_labels(store_dir: Path) -> dict[str, str]:
    """Run id -> the `label` its suite file gives its row group, from suite.json (not part of any
    run's config, so a label never changes a run id and can change without a rerun)."""
    record = Path(store_dir) / store.SUITE
    if not record.exists():
        return {}
    return {cell["run_id"]: cell["label"] for cell in store.read_json(record).get("cells", [])
            if cell.get("label")}


def condition_titles(runs: pd.DataFrame) -> pd.Series:
    """Per run, its cell's title in tables and figures: `dataset: label` where the suite labels the cell's
    runs with one label, else the dataset and the settings that set the cell apart.

    The cells themselves are those of `setting`: a label names a cell, it never pools two. A label that
    would name two cells of one dataset leaves both with their generated titles.
    """
    generated = pd.Series([dataset if not setting else f"{dataset} ({setting})"
                           for dataset, setting in zip(runs["dataset"], runs["setting"], strict=True)],
                          index=runs.index)
    titles = {}
    for name, frame in runs.groupby(generated, sort=False):
        labels = frame["row_group"].dropna().unique()
        if len(labels) == 1:
            titles[name] = f"{frame['dataset'].iloc[0]}: {labels[0]}"
    counts = pd.Series(list(titles.values())).value_counts()
    return generated.map(lambda name: titles[name] if name in titles and counts[titles[name]] == 1 else name)


def cell_settings(runs: pd.DataFrame) -> pd.Series:
    """Per run, the config values that set it apart from the usual runs of its dataset.

    A key counts when it varies within one remedy apart from the seed; a run
    is labelled with the keys where it differs from the dataset's most common
    value. Keys a remedy sets itself (pretrain-fb's learning rate, the CNN
    decoder of dilated-cnn: `remedy_settings`) belong to the remedy, not to the cell, and are left out.
    A sha256 of your own corpus's data shows its first 12 hex digits, as the Data section does.
    """
    config = [c for c in runs.columns if c.split(".")[0] in SECTIONS and c not in _CONFIG_KEYS_NOT_SETTINGS]
    owned = runs["remedy_settings"].str.split(",")
    labels = pd.Series("", index=runs.index, dtype=object)
    for _, frame in runs.groupby("dataset", sort=False):
        as_text = frame[config].astype(str)
        for column in config:
            as_text.loc[owned[frame.index].map(lambda keys, c=column: c in keys), column] = np.nan
        varying = [c for c in config if (as_text.groupby(frame["remedy"])[c].nunique() > 1).any()]
        if varying:
            usual = {c: as_text[c].mode().iloc[0] for c in varying}
            labels[frame.index] = [
                ", ".join(
                    f"{key}={value:.12}" if key.startswith("data.sha256.") else f"{key}={value}"
                    for key, value in zip(varying, values, strict=True)
                    if isinstance(value, str) and value != usual[key]
                )
                for values in as_text[varying].itertuples(index=False)
            ]
    return labels


def remedy_settings(runs: pd.DataFrame) -> pd.Series:
    """Per run, the config keys its remedy set itself, comma-joined: recorded in config.json, or inferred
    from the store for runs stored before the record."""
    config = [c for c in runs.columns if c.split(".")[0] in SECTIONS and c not in _CONFIG_KEYS_NOT_SETTINGS]
    recorded = runs["remedy_settings"] if "remedy_settings" in runs else pd.Series(None, index=runs.index)
    inferred = inferred_settings(runs, config)
    return pd.Series([",".join(keys if isinstance(keys, list) else guess)
                      for keys, guess in zip(recorded, inferred, strict=True)], index=runs.index)


# The parameters that decide what a built-in remedy does: kept in its label even when the store holds one
# spec of it, so no table or legend reads "beta" for beta = 0.4.
DECIDING_PARAMETERS = {"beta": ("beta",), "free-bits": ("lam",), "bn-vae": ("gamma",),
                       "cyclical": ("cycles",), "word-dropout": ("keep",), "dilated-cnn": ("size",),
                       "du-vae": ("gamma",), "delta-vae": ("delta",), "min-rate": ("rate",),
                       "capacity": ("target",), "vmf": ("kappa",)}


def short_labels(specs: Iterable[str], *, deciding: bool = True) -> dict[str, str]:
    """Label per canonical remedy spec: names, the parameters that decide a built-in remedy
    (`DECIDING_PARAMETERS`, unless `deciding` is off), and those that tell apart two specs with the
    same names (`kl-annealing(epochs=3.0)` vs `kl-annealing(epochs=5.0)`)."""
    parsed = {spec: spec_parts(spec) for spec in dict.fromkeys(specs)}
    by_names: dict[tuple[str, ...], list[str]] = {}
    for spec, parts in parsed.items():
        by_names.setdefault(tuple(part.name for part in parts), []).append(spec)
    labels = {}
    for names, group in by_names.items():
        for spec in group:
            pieces = []
            for index, name in enumerate(names):
                params = parsed[spec][index].params
                differing = [
                    key for key in params
                    if len({parsed[other][index].params.get(key) for other in group}) > 1
                    or (deciding and key in DECIDING_PARAMETERS.get(name, ()))
                ]
                inner = ",".join(f"{key}={params[key]}" for key in differing)
                pieces.append(f"{name}({inner})" if inner else name)
            labels[spec] = "+".join(pieces)
    return labels
