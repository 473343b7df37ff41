"""Suites: a TOML file, or a built-in name, expanded into checked cells.

A suite is datasets x remedies x seeds under shared config settings, plus
optional extra grids (`[[extra]]`); docs/suites.md gives the format.
`load_suite` runs every check a cell could fail on user input (the schema,
remedy specs, config values, and that every dataset loads) before any cell
starts, and writes nothing: a typo in cell 29 must not surface after 28
cells of training.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import SECTIONS, RunConfig, set_value
from bench.data.datasets import find_dataset
from bench.errors import ConfigError, closest
from bench.single_run import Resolved, plan_run, resolve
from bench.store import check_suite_name
from remedies import registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SUITES_DIR = Path(__file__).parent / "suites"
GRID_KEYS = ("datasets", "remedies", "seeds", "label", *SECTIONS)
# What a suite says of itself (`collapse-bench list suites`): optional free text, in no run's config.
TEXT_KEYS = {
    "description": "what the suite measures",
    "paper": "the paper it reproduces",
    "claim": "the paper's claim, as the prediction the verdict rules decide",
    "cost": "its measured or estimated wall time, and on what",
}
TOP_KEYS = ("name", *TEXT_KEYS, *GRID_KEYS, "extra")


@dataclass(frozen=True)
class Entry:
    """A dataset name or remedy spec, with the settings written beside it."""

    value: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Grid:
    """datasets x remedies x seeds under shared settings: the suite body or one [[extra]].

    `label` names the grid's row group in the report; it is not part of any
    run's config, so it never changes a run id.
    """

    datasets: tuple[Entry, ...]
    remedies: tuple[Entry, ...]
    seeds: tuple[int, ...]
    settings: dict[str, Any]
    label: str | None = None


_DEFAULTS = Grid(datasets=(), remedies=(), seeds=(0,), settings={})  # what the suite body inherits


@dataclass(frozen=True)
class Cell:
    """One run of a suite, resolved and checked, with the sizes the scheduler orders by."""

    run: Resolved
    sentences: dict[str, int]  # per split of the loaded corpus
    row_group: str | None = None  # the `label` of the grid that made it, for suite.json and the report

    @property
    def config(self) -> RunConfig:
        return self.run.config

    @property
    def run_id(self) -> str:
        return self.config.run_id()

    @property
    def label(self) -> str:
        return f"{self.config.dataset} / {self.config.remedy} / seed {self.config.seed}"


@dataclass(frozen=True)
class Suite:
    """A suite ready to run: every cell passed every check."""

    name: str
    description: str
    source: str
    cells: tuple[Cell, ...]


def builtin_suites() -> list[str]:
    """Names of the suites shipped in bench/suites/."""
    return sorted(path.stem for path in SUITES_DIR.glob("*.toml"))


def find_suite(source: str | Path) -> Path:
    """The TOML file for `source`: a path to a file, or a built-in suite's name."""
    path = Path(source)
    if path.is_file():
        return path
    if str(source) in builtin_suites():
        return SUITES_DIR / f"{source}.toml"
    if path.suffix == ".toml" or len(path.parts) > 1:
        raise ConfigError(f"suite file {source} not found")
    raise ConfigError(
        f"unknown suite '{source}'.{closest(str(source), builtin_suites())} Give a .toml file "
        f"or a built-in suite: {', '.join(builtin_suites())} (see: collapse-bench list suites)"
    )


def load_suite(
    source: str | Path, overrides: dict[str, str] | None = None, data_dir: str | None = None
) -> Suite:
    """Read, check and expand a suite; `overrides` (from --set) win over the file.

    Raises ConfigError naming the file and the key at the first problem.
    Loads every distinct dataset once, so a missing or empty data file is
    reported here, not by the cell that first needs it.
    """
    path = find_suite(source)
    where = _where(path)
    name, description, grids = _parse(_read(path, where), where, path.stem, path.parent)
    runs = _expand(grids, _checked(dict(overrides or {}), "--set"), where, path.parent)
    return Suite(name, description, str(path), _check_cells(runs, data_dir, where))


def describe_suites() -> list[dict[str, Any]]:
    """Rows for `collapse-bench list suites`, one per built-in suite (see `describe_suite`)."""
    return [describe_suite(SUITES_DIR / f"{name}.toml") for name in builtin_suites()]


def describe_suite(path: Path) -> dict[str, Any]:
    """A suite file's name, texts (description, paper, claim, cost), datasets, cells and path.

    `cells` counts distinct runs as `load_suite` makes them (a cell that two grids share once),
    resolving every cell's config but loading no data. A file that fails a check is listed as
    broken, with the reason.
    """
    where = _where(path)
    try:
        raw = _read(path, where)
        name, _, grids = _parse(raw, where, path.stem, path.parent)
        cells = len(_expand(grids, {}, where, path.parent))
    except ConfigError as exc:
        return {"name": path.stem, **dict.fromkeys(TEXT_KEYS, ""), "description": f"broken: {exc}",
                "datasets": [], "cells": 0, "path": str(path)}
    datasets = sorted({entry.value for grid in grids for entry in grid.datasets})
    return {"name": name, **_texts(raw, where), "datasets": datasets, "cells": cells, "path": str(path)}


# ------------------------------------------------------------------- reading


def _where(path: Path) -> str:
    return f"{path.name} (built-in)" if path.parent == SUITES_DIR else str(path)


def _read(path: Path, where: str) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{where}: line {line} is not UTF-8; save the file as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: bad TOML: {exc}") from None


# ------------------------------------------------------------------- schema


def _parse(raw: dict[str, Any], where: str, default_name: str, base: Path) -> tuple[str, str, list[Grid]]:
    """The suite's name, description and grids; every key and name checked. Paths of corpora of
    your own start at `base`, the suite file's folder."""
    _check_keys(raw, TOP_KEYS, where)
    name = raw.get("name", default_name)
    try:
        check_suite_name(name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    description = _texts(raw, where)["description"]
    for key in ("datasets", "remedies"):
        if key not in raw:
            raise ConfigError(f"{where}: '{key}' is required (a list; see docs/suites.md)")
    grids = [_grid(raw, where, _DEFAULTS, base)]
    extras = raw.get("extra", [])
    if not isinstance(extras, list) or not all(isinstance(table, dict) for table in extras):
        raise ConfigError(f"{where}: 'extra' must be an array of tables: [[extra]]")
    for index, table in enumerate(extras):
        _check_keys(table, GRID_KEYS, f"{where}, extra[{index}]")
        grids.append(_grid(table, f"{where}, extra[{index}]", grids[0], base))
    return name, description, grids


def _texts(raw: dict[str, Any], where: str) -> dict[str, str]:
    """The suite's free-text keys (TEXT_KEYS), "" where absent; a value that is not a string is bad input."""
    texts = {key: raw.get(key, "") for key in TEXT_KEYS}
    for key, value in texts.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string ({TEXT_KEYS[key]}), got {value!r}")
    return texts


def _grid(table: dict[str, Any], where: str, parent: Grid, base: Path) -> Grid:
    """A grid from its table; what the table leaves out comes from `parent`.

    Entries taken from `parent` lose the settings this table sets itself: an
    extra grid that says `data.synthetic_size = 2000` means it for every
    dataset it inherits, including one listed with its own size on top.
    """
    own = _settings(table, where)
    find = functools.partial(find_dataset, base=base)
    datasets = (_entries(table["datasets"], "datasets", "name", find, where)
                if "datasets" in table else _inherited(parent.datasets, own))
    remedies = (_entries(table["remedies"], "remedies", "spec", registry.parse, where)
                if "remedies" in table else _inherited(parent.remedies, own))
    seeds = _seeds(table["seeds"], where) if "seeds" in table else parent.seeds
    return Grid(datasets, remedies, seeds, {**parent.settings, **own}, _label(table, where))


def _label(table: dict[str, Any], where: str) -> str | None:
    """The grid's own row-group title; not inherited, since an [[extra]] is a group of its own."""
    label = table.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise ConfigError(
            f"{where}: label must be a non-empty string (the row group's title in the report), got {label!r}"
        )
    return label


def _inherited(entries: tuple[Entry, ...], overridden: dict[str, Any]) -> tuple[Entry, ...]:
    """`entries` without the settings in `overridden`, which the inheriting grid sets."""
    return tuple(
        Entry(entry.value, {key: value for key, value in entry.settings.items() if key not in overridden})
        for entry in entries
    )


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key '{key}'.{closest(key, allowed)} Allowed here: {', '.join(allowed)}"
            )


def _entries(
    value: Any, key: str, field: str, check: Callable[[str], object], where: str
) -> tuple[Entry, ...]:
    """`key = ["a", { field = "b", train.epochs = 2 }]`: strings, or tables with settings."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: '{key}' must be a non-empty list")
    entries = []
    for index, item in enumerate(value):
        at = f"{where}, {key}[{index}]"
        table = {field: item} if isinstance(item, str) else item
        if not isinstance(table, dict) or not isinstance(table.get(field), str):
            raise ConfigError(f"{at}: expected a string or a table with '{field}' (a string), got {item!r}")
        _check_keys(table, (field, *SECTIONS), at)
        try:
            check(table[field])
        except ConfigError as exc:
            raise ConfigError(f"{at}: {exc}") from None
        entries.append(Entry(table[field], _settings(table, at)))
    return tuple(entries)


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    ok = isinstance(value, list) and value and all(
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in value
    )
    if not ok or len(set(value)) != len(value):
        raise ConfigError(f"{where}: seeds must be a non-empty list of distinct integers >= 0, got {value!r}")
    return tuple(value)


def _settings(table: dict[str, Any], where: str) -> dict[str, Any]:
    """The config sections of `table` ([train], model = {...}) as checked dotted keys."""
    flat: dict[str, Any] = {}
    for section in SECTIONS:
        if section not in table:
            continue
        values = table[section]
        if not isinstance(values, dict):
            raise ConfigError(
                f"{where}: '{section}' must be a table of settings, e.g. {section} = {{ key = value }}"
            )
        flat.update({f"{section}.{key}": value for key, value in values.items()})
    return _checked(flat, where)


def _checked(settings: dict[str, Any], where: str) -> dict[str, Any]:
    """Reject unknown keys and values of the wrong type here, where the message can say where."""
    for key, value in settings.items():
        if isinstance(value, dict):
            raise ConfigError(f"{where}: {key}: expected a value, got a table")
        try:
            set_value(RunConfig(), key, value)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return settings


# ---------------------------------------------------------------- expansion


def _expand(
    grids: list[Grid], overrides: dict[str, Any], where: str, base: Path
) -> list[tuple[Resolved, str | None]]:
    """Resolved runs with their grid's label, one per distinct run id, in suite order.

    Settings apply from general to specific: the suite's (then an extra
    grid's), the dataset entry's, the remedy entry's, then --set. A cell
    that two grids both produce runs once, in the first grid's row group.
    """
    runs: dict[str, tuple[Resolved, str | None]] = {}
    for grid in grids:
        for dataset in grid.datasets:
            for remedy in grid.remedies:
                settings = {**grid.settings, **dataset.settings, **remedy.settings, **overrides}
                for seed in grid.seeds:
                    try:
                        run = resolve(dataset.value, remedy.value, seed, settings, base)
                    except ConfigError as exc:
                        cell = f"{dataset.value} / {remedy.value} / seed {seed}"
                        raise ConfigError(f"{where}, cell {cell}: {exc}") from None
                    runs.setdefault(run.run_id(), (run, grid.label))
    return list(runs.values())


def _check_cells(
    runs: list[tuple[Resolved, str | None]], data_dir: str | None, where: str
) -> tuple[Cell, ...]:
    """Plan every cell (each distinct dataset is loaded once) and keep the sizes."""
    cells = []
    for run, row_group in runs:
        try:
            plan = plan_run(run, data_dir)
        except ConfigError as exc:
            raise ConfigError(f"{where}, dataset '{run.config.dataset}': {exc}") from None
        cells.append(Cell(run, {split: len(ids) for split, ids in plan.corpus.splits.items()}, row_group))
    return tuple(cells)
