"""From a results store to the runs frame: one row per run, and the per-run tables.

One row per run holds its flattened config, its final metrics and its
status, so any question a reader has ("did the 5-epoch runs differ?") is a
pandas groupby away. Two derived columns make the cells of a suite
(`bench.report.labels` decides them):

- `setting`: the config values that vary among runs of one dataset and
  remedy apart from the seed (a suite that adds nz = 1 runs for the
  posterior-mean plot, or sweeps `model.cnn_dilations`). Pooling such runs
  over "seeds" would mix different experiments, so they are separate cells.
- `remedy_label`: the remedy without its parameters where that is
  unambiguous, since canonical specs such as
  `kl-annealing(epochs=10.0,shape=linear,start=0.1,steepness=10.0,steps=0)`
  do not fit in a legend. `report.md` lists label -> full spec.

What the report knows of a remedy it reads from the store (`specs`): a
report needs neither the registry nor the remedy's plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import store
from bench.config import stored_settings
from bench.data.corpus import SPLITS
from bench.errors import ConfigError
from bench.report.escape import validation_size
from bench.report.labels import (
    cell_settings,
    condition_titles,
    remedy_settings,
    row_group_labels,
    short_labels,
)
from bench.report.specs import recorded_parts, recorded_settings

RUNS = "runs"
FINISHED, FAILED, UNFINISHED = "finished", "failed", "unfinished"

# metrics.json "test" keys -> runs-frame columns; the names keep the IW NLL and the ELBO apart.
_TEST_COLUMNS = {
    "nll": "nll_iw", "ppl": "ppl_iw", "elbo_rec": "rec", "elbo_ppl": "ppl_elbo", "kl": "kl", "mi": "mi",
    "au": "au", "iw_samples": "iw_samples", "mi_estimator": "mi_estimator",
    "n_sentences": "n_sentences", "n_words": "n_words",
}
# probe.json keys -> runs-frame columns
_PROBE_COLUMNS = {
    "probe_accuracy": "probe_acc", "bow_accuracy": "probe_bow_acc", "chance_accuracy": "probe_chance_acc",
    "n_train": "probe_n_train", "n_test": "probe_n_test",
    "probe_balanced_accuracy": "probe_bal_acc", "whitened_balanced_accuracy": "probe_white_bal_acc",
    "bow_balanced_accuracy": "probe_bow_bal_acc", "chance_balanced_accuracy": "probe_chance_bal_acc",
    "whitened_accuracy": "probe_white_acc",
}
PARAM = "param."  # column prefix of a one-part remedy's parameters: param.<remedy>.<key>
NEUTRAL = "neutral"  # runs.attrs key: param column -> the value that makes the remedy the plain VAE


def load_runs(store_dir: Path, damaged: list[str] | None = None, *, into: str = "the report") -> pd.DataFrame:
    """The tidy runs frame of `store_dir` (a suite folder holding runs/<run-id>/).

    A run with a file that does not read whole is left out, and `damaged`
    (when given) gets one line naming it and what it is left out of (`into`).
    Raises ConfigError when there is no run, before anything is written.
    """
    folders = sorted(p for p in (Path(store_dir) / RUNS).glob("*") if p.is_dir())
    rows, neutral = [], {}
    for folder in folders:
        try:
            row = _run_row(folder, neutral)
        except store.Damaged as exc:
            _note(damaged, f"run {folder.name} left out of {into}: {exc}")
            continue
        if row is not None:
            rows.append({**row, **_probe_columns(folder, damaged)})
    if not rows:
        raise ConfigError(
            f"no runs under {Path(store_dir) / RUNS}: give a suite folder such as "
            "results/demo (the one holding runs/<run-id>/), after `collapse-bench run`"
        )
    runs = pd.DataFrame(rows)
    for column in [*_TEST_COLUMNS.values(), "neg_elbo", "receptive_field", "model.nz", "valid_last_mi",
                   "valid_last_au", "n_valid", "gradient_steps"]:
        if column not in runs:  # a store with no finished run yet still gets every column
            runs[column] = np.nan
    runs["remedy_settings"] = remedy_settings(runs)
    runs["setting"] = cell_settings(runs)
    runs["row_group"] = runs["run_id"].map(row_group_labels(store_dir))
    runs["condition"] = condition_titles(runs)
    labels = short_labels(runs["remedy"].unique())
    runs["remedy_label"] = runs["remedy"].map(labels)
    runs = runs.sort_values(["condition", "remedy_label", "seed", "run_id"], ignore_index=True)
    runs.attrs[NEUTRAL] = neutral
    return runs


def _note(damaged: list[str] | None, line: str) -> None:
    if damaged is not None:
        damaged.append(line)


def _run_row(folder: Path, neutral: dict[str, Any]) -> dict[str, Any] | None:
    """The run's row; the neutral values its remedy declares are added to `neutral` (by column)."""
    config = store.read_json(folder / store.CONFIG) if (folder / store.CONFIG).exists() else None
    metrics = store.read_json(folder / store.METRICS) if (folder / store.METRICS).exists() else None
    if config is None and metrics is None:
        return None
    source = metrics or config or {}
    row: dict[str, Any] = {
        "run_id": folder.name,
        "status": (metrics or {}).get("status", UNFINISHED),
        "reason": (metrics or {}).get("reason", ""),
        "dataset": source.get("dataset", (config or {}).get("dataset")),
        "remedy": source.get("remedy", (config or {}).get("remedy")),
        "seed": source.get("seed", (config or {}).get("seed")),
    }
    for section, settings in (stored_settings(config) if config else {}).items():
        for key, value in settings.items():
            if isinstance(value, dict):  # data.sha256 of your own corpus: a column per split
                row.update({f"{section}.{key}.{sub}": item for sub, item in value.items()})
            elif isinstance(value, list | tuple):
                row[f"{section}.{key}"] = ",".join(map(str, value))
            else:
                row[f"{section}.{key}"] = value
    if config is not None:
        row["remedy_settings"] = recorded_settings(config)
        row.update(_parameter_columns(recorded_parts(config), neutral))
    if metrics is None:
        return row
    row.update({f"source.{key}": value for key, value in metrics.get("data", {}).items()})
    test = metrics.get("test", {})
    row.update({column: test.get(key) for key, column in _TEST_COLUMNS.items()})
    row["neg_elbo"] = -test["elbo"] if test.get("elbo") is not None else None
    model = metrics.get("model", {})
    row["parameters"] = model.get("parameters")
    row["receptive_field"] = model.get("receptive_field")
    for key in ("best_epoch", "epochs_run", "steps", "gradient_steps"):
        row[key] = metrics.get(key)
    last = (metrics.get("validation") or [{}])[-1]  # the last epoch: a control's verdict reads it
    row["valid_last_mi"], row["valid_last_au"] = last.get("mi"), last.get("au")
    row["n_valid"] = validation_size(metrics.get("data", {}).get("sentences"))
    for key, value in metrics.get("timings", {}).items():
        row[f"time.{key}"] = value
    return row


def _probe_columns(folder: Path, damaged: list[str] | None) -> dict[str, Any]:
    """The probe's columns of a probed run. A probe.json that does not read whole leaves out the probe
    only, with a line in `damaged`: the run's own results are intact, and `probe` probes it again."""
    if not (folder / store.PROBE).exists():
        return {}
    try:
        probe = store.read_json(folder / store.PROBE)
    except store.Damaged as exc:
        _note(damaged, f"run {folder.name}: its probe is left out: {exc}; `collapse-bench probe` redoes it")
        return {}
    return {column: probe.get(key) for key, column in _PROBE_COLUMNS.items()}


def _parameter_columns(parts: list[dict[str, Any]], neutral: dict[str, Any]) -> dict[str, Any]:
    """`param.<remedy>.<key>` columns of a run whose remedy is one part (a sweep's x axis), noting in
    `neutral` the values at which the remedy declares itself the plain VAE."""
    if len(parts) != 1:
        return {}
    name = parts[0]["name"]
    for key, value in parts[0].get("neutral", {}).items():
        neutral[f"{PARAM}{name}.{key}"] = value
    return {f"{PARAM}{name}.{key}": value for key, value in parts[0]["params"].items()}


def load_run_tables(
    store_dir: Path, runs: pd.DataFrame, stem: str, damaged: list[str] | None = None, *,
    into: str = "the figures",
) -> pd.DataFrame:
    """Per-run tables (`curve`, `posterior_mean`, `per_sentence`) of the finished runs, with each run's
    cell columns.

    Failed runs are left out so curves aggregate the same runs as the tables;
    so is a table that does not read whole, with a line in `damaged` naming what it is left out of.
    """
    finished = runs[runs["status"] == FINISHED]
    tables = []
    for run_id in finished["run_id"]:
        try:
            table = store.read_table(Path(store_dir) / RUNS / run_id, stem)
        except store.Damaged as exc:
            _note(damaged, f"run {run_id}: its {stem} is left out of {into}: {exc}")
            continue
        if table is not None and not table.empty:
            tables.append(table.assign(run_id=run_id))
    if not tables:
        return pd.DataFrame()
    keys = finished[["run_id", "dataset", "condition", "remedy", "remedy_label", "seed", "model.nz"]]
    return pd.concat(tables, ignore_index=True).merge(keys, on="run_id")


def shared_eval_files(runs: pd.DataFrame) -> dict[str, str]:
    """Dataset -> the file its runs read as both validation and test split (ptb-small's stand-in).

    Decided from what each run's metrics.json records it read (sha256 per
    split), not from what the dataset is known to be; runs that record no
    files (generated data, older stores) never match.
    """
    columns = ["source.valid_sha256", "source.test_sha256", "source.valid_path"]
    if not set(columns) <= set(runs):
        return {}
    same = runs[runs[columns[0]].notna() & (runs[columns[0]] == runs[columns[1]])]
    return {dataset: str(frame[columns[2]].iloc[0]) for dataset, frame in same.groupby("dataset", sort=True)}


def data_read(runs: pd.DataFrame) -> list[tuple[str, int, str]]:
    """Per row group, each distinct account of the data its runs read (origin, files, sha256), with
    how many runs read it, from their metrics.json: which data each row of the report saw."""
    columns = [c for c in runs.columns if c == "source.origin" or
               (c.startswith("source.") and c.endswith(("_path", "_sha256")))]
    accounts = runs[columns].apply(_data_account, axis=1) if columns else pd.Series("", index=runs.index)
    return [(condition, int(count), account or "(not recorded: no run finished or failed)")
            for (condition, account), count in accounts.groupby(runs["condition"]).value_counts().items()]


def _data_account(source: pd.Series) -> str:
    """`origin; train PATH (sha256 0123456789ab); ...` from one run's source.* columns."""
    recorded = {key.removeprefix("source."): value for key, value in source.items() if isinstance(value, str)}
    parts = [recorded.pop("origin")] if "origin" in recorded else []
    for key in sorted((k for k in recorded if k.endswith("_path")), key=_split_first):
        name = key.removesuffix("_path")
        digest = recorded.pop(f"{name}_sha256", "")
        parts.append(f"{name} {recorded[key]}" + (f" (sha256 {digest[:12]})" if digest else ""))
    parts += [f"{key.removesuffix('_sha256')} sha256 {recorded[key]:.12}"
              for key in sorted((k for k in recorded if k.endswith("_sha256")), key=_split_first)]
    return "; ".join(parts)


def _split_first(key: str) -> tuple[int, str]:
    """train, valid, test in that order, then the rest by name."""
    split = key.split("_")[0]
    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), key)
