"""Which dataset a `--dataset` value names, and its corpus, once per data config.

A value is, in this order: a built-in dataset's name (`bench.data.builtin`),
a name an installed package adds through the entry-point group
`collapse_bench.datasets` (name = "module:SPEC", SPEC a `DatasetSpec`),
`hf:...` (a Hugging Face dataset, `bench.data.hf`), or a folder, file or
`train=PATH,...` of your own (`bench.data.user`). Each resolves to a
`DatasetSpec`, the one place that dataset's facts live. A broken plugin fails
only when named, naming itself.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from bench.data.builtin import BUILTIN, DATA_ENV
from bench.data.corpus import Corpus
from bench.data.hf import hf_corpus
from bench.data.spec import DatasetSpec, Sizes
from bench.data.user import user_corpus
from bench.errors import ConfigError, closest
from bench.settings import DataConfig

ENTRY_POINT_GROUP = "collapse_bench.datasets"


def find_dataset(reference: str, base: Path | None = None) -> DatasetSpec:
    """The spec `reference` names; relative paths start at `base` (default: the working folder).

    Cheap: a corpus of your own is found, not read (its spec's `identify` reads it).
    """
    if reference in BUILTIN:
        return BUILTIN[reference]
    plugins = _plugin_entry_points()
    if reference in plugins:
        return _load_plugin(reference, plugins[reference])
    base = Path.cwd() if base is None else base
    spec = hf_corpus(reference, base) or user_corpus(reference, base)
    if spec is None:
        raise ConfigError(
            f"unknown dataset '{reference}'.{closest(reference, dataset_names())} Give a dataset name, "
            "a folder or file of your own (a path), or hf:NAME. See: collapse-bench list datasets"
        )
    return spec


def dataset_names() -> list[str]:
    """Built-in names, then installed plugins' (nothing is imported)."""
    return [*BUILTIN, *(name for name in sorted(_plugin_entry_points()) if name not in BUILTIN)]


def labelled_datasets() -> list[str]:
    """Named datasets whose sentences carry a label (sentiment, stars); a broken plugin is left out."""
    return [row["name"] for row in describe_datasets() if row["labelled"]]


def describe_datasets() -> list[dict[str, Any]]:
    """Rows for `collapse-bench list datasets`: name, where it comes from, sizes, labels; a plugin
    that does not load is listed as broken, with why."""
    rows = [{"name": name, "plugin": None, **spec.describe()} for name, spec in BUILTIN.items()]
    for name, entry in sorted(_plugin_entry_points().items()):
        if name in BUILTIN:
            continue
        try:
            rows.append({"name": name, "plugin": entry.value, **_load_plugin(name, entry).describe()})
        except ConfigError as exc:
            rows.append({"name": name, "plugin": entry.value, "description": f"broken: {exc}",
                         "source": "", "labelled": False, "sizes": None})
    return rows


# ------------------------------------------------------------------ plugins


def _plugin_entry_points() -> dict[str, Any]:
    return {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}


def _load_plugin(name: str, entry: Any) -> DatasetSpec:
    """The plugin's spec, checked: a `DatasetSpec` with `Sizes`, so it never trains at sizes meant
    for another dataset."""
    try:
        spec = entry.load()
    except Exception as exc:  # a broken third-party package: name it, say why
        raise ConfigError(
            f"dataset plugin '{name}' ({entry.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(spec, DatasetSpec):
        raise ConfigError(
            f"dataset plugin '{name}' ({entry.value}) is a {type(spec).__name__}, not a "
            "bench.data.spec.DatasetSpec"
        )
    if not isinstance(spec.sizes, Sizes):
        raise ConfigError(
            f"dataset plugin '{name}' ({entry.value}): sizes must be a bench.data.spec.Sizes "
            f"(e.g. PTB_SIZES), got {type(spec.sizes).__name__}"
        )
    return spec


# ------------------------------------------------------------------ loading


def load_corpus(
    cfg: DataConfig, data_dir: str | None = None, cache_dir: str | None = None
) -> Corpus:
    """Read, cap, index and encode the dataset `cfg.name`; every user error is a ConfigError."""
    return find_dataset(cfg.name).load(cfg, data_dir, cache_dir)


def cached_corpus(cfg: DataConfig, data_dir: str | None = None) -> Corpus:
    """`load_corpus`, once per data config and process.

    A suite checks every dataset before it starts, a worker runs many cells
    of the same data, and the probe visits many runs of one dataset: none
    should read or generate it again. Callers only read a corpus, so sharing
    is safe.
    """
    data = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    return _cached_corpus(data, data_dir, os.environ.get(DATA_ENV), os.getcwd())


@functools.lru_cache(maxsize=4)
def _cached_corpus(data: str, data_dir: str | None, env_dir: str | None, cwd: str) -> Corpus:
    """The key is the config's JSON (the dataclass is unhashable) plus what the data folder is
    resolved from when `data_dir` is None: $COLLAPSE_BENCH_DATA and the working folder."""
    return load_corpus(DataConfig(**json.loads(data)), data_dir)
