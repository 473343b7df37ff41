"""From a results store to tidy pandas frames: runs, summary per cell, tests against a baseline.

One row per run holds its flattened config, its final metrics and its
status, so any question a reader has ("did the 5-epoch runs differ?") is a
pandas groupby away. Two derived columns make the cells of a suite:

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

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import store
from bench.config import SECTIONS, stored_settings
from bench.data.corpus import SPLITS
from bench.errors import ConfigError
from bench.probe import PROBE
from bench.report.escape import validation_size
from bench.report.specs import inferred_settings, recorded_parts, recorded_settings, spec_parts
from bench.report.stats import holm, mean_ci, welch
from bench.syntax import spec_matches

RUNS = "runs"
FINISHED, FAILED, UNFINISHED = "finished", "failed", "unfinished"


@dataclass(frozen=True)
class Metric:
    """A reported quantity: its column in the runs frame and how a reader should see it.

    `lower_is_better` is None for the collapse measures: more KL, MI or AU
    means less collapse, which is not better in itself (a remedy can buy KL
    with a worse NLL).
    """

    key: str
    label: str  # may contain {k}, the number of importance samples
    unit: str
    lower_is_better: bool | None
    digits: int
    zero_based: bool  # a bar from 0 is meaningful (not for NLL ~ 60 nats with CIs of 0.1)
    tested: bool = True  # in the significance table (PPL is a transform of NLL: not tested twice)

    def title(self, k: int | None = None) -> str:
        return self.label.format(k=k if k is not None else "?")

    def axis_label(self, k: int | None = None) -> str:
        return f"{self.title(k)} [{self.unit}]" if self.unit else self.title(k)


METRICS: tuple[Metric, ...] = (
    Metric("nll_iw", "NLL (IW, k={k})", "nats/sentence", True, 2, zero_based=False),
    Metric("ppl_iw", "PPL (IW, k={k})", "", True, 2, zero_based=False, tested=False),
    Metric("neg_elbo", "-ELBO (1 sample)", "nats/sentence", True, 2, zero_based=False),
    Metric("kl", "KL(q(z|x) || p(z))", "nats", None, 3, zero_based=True),
    Metric("mi", "MI I_q(x; z)", "nats", None, 3, zero_based=True),
    Metric("au", "AU (active units)", "units", None, 2, zero_based=True),
)
# The sentiment probe's accuracy (`collapse-bench probe`): summarised only in stores that have one.
PROBE_METRIC = Metric("probe_bal_acc", "probe bal. acc.", "", None, 3, zero_based=True, tested=False)
METRIC = {metric.key: metric for metric in (*METRICS, PROBE_METRIC)}

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
_CONFIG_KEYS_NOT_SETTINGS = {"data.name"}  # the dataset itself
PARAM = "param."  # column prefix of a one-part remedy's parameters: param.<remedy>.<key>
NEUTRAL = "neutral"  # runs.attrs key: param column -> the value that makes the remedy the plain VAE


# ---------------------------------------------------------------- loading


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
    runs["remedy_settings"] = _remedy_settings(runs)
    runs["setting"] = _settings(runs)
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
    if not (folder / PROBE).exists():
        return {}
    try:
        probe = store.read_json(folder / PROBE)
    except store.Damaged as exc:
        _note(damaged, f"run {folder.name}: its probe is left out: {exc}; `collapse-bench probe` redoes it")
        return {}
    return {column: probe.get(key) for key, column in _PROBE_COLUMNS.items()}


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


def _settings(runs: pd.DataFrame) -> pd.Series:
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


def _parameter_columns(parts: list[dict[str, Any]], neutral: dict[str, Any]) -> dict[str, Any]:
    """`param.<remedy>.<key>` columns of a run whose remedy is one part (a sweep's x axis), noting in
    `neutral` the values at which the remedy declares itself the plain VAE."""
    if len(parts) != 1:
        return {}
    name = parts[0]["name"]
    for key, value in parts[0].get("neutral", {}).items():
        neutral[f"{PARAM}{name}.{key}"] = value
    return {f"{PARAM}{name}.{key}": value for key, value in parts[0]["params"].items()}


def _remedy_settings(runs: pd.DataFrame) -> pd.Series:
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
                       "cyclical": ("cycles",), "word-dropout": ("keep",), "dilated-cnn": ("size",)}


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


def load_run_tables(
    store_dir: Path, runs: pd.DataFrame, stem: str, damaged: list[str] | None = None
) -> pd.DataFrame:
    """Per-run tables (`curve`, `posterior_mean`) of the finished runs, with each run's cell columns.

    Failed runs are left out so curves aggregate the same runs as the tables;
    so is a table that does not read whole, with a line in `damaged`.
    """
    finished = runs[runs["status"] == FINISHED]
    tables = []
    for run_id in finished["run_id"]:
        try:
            table = store.read_table(Path(store_dir) / RUNS / run_id, stem)
        except store.Damaged as exc:
            _note(damaged, f"run {run_id}: its {stem} is left out of the figures: {exc}")
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


# ------------------------------------------------------------- summaries


def iw_k(frame: pd.DataFrame) -> int | None:
    """The IW sample count k configured for the runs in `frame` (one cell: one k), or None if mixed.

    Read from the config, so a cell whose runs all failed still names its k.
    """
    column = "eval.iw_samples" if "eval.iw_samples" in frame else "iw_samples"
    ks = frame[column].dropna().unique()
    return int(ks[0]) if len(ks) == 1 else None


def latent_size(frame: pd.DataFrame) -> int | None:
    """The latent size nz shared by the runs in `frame` (AU counts out of it), or None if mixed."""
    sizes = frame["model.nz"].dropna().unique()
    return int(sizes[0]) if len(sizes) == 1 else None


def remedy_order(runs: pd.DataFrame, baseline: str | None) -> list[str]:
    """Remedy labels, the baseline first, then alphabetical: one order for every table and figure."""
    labels = sorted(runs["remedy_label"].unique())
    first = runs.loc[runs["remedy"] == baseline, "remedy_label"].unique() if baseline else []
    return [*first, *(label for label in labels if label not in first)]


def reported_metrics(runs: pd.DataFrame) -> tuple[Metric, ...]:
    """METRICS, and the probe accuracy when some run has been probed: a store without probe.json
    reports exactly as it would without the probe."""
    probed = PROBE_METRIC.key in runs and runs[PROBE_METRIC.key].notna().any()
    return (*METRICS, PROBE_METRIC) if probed else METRICS


def summary(runs: pd.DataFrame, metrics: Iterable[Metric] = METRICS) -> pd.DataFrame:
    """Long frame, one row per (cell, remedy, metric): n, failed, unfinished, mean, std, 95% t-CI.

    n counts finished runs with a finite value; failed and unfinished runs are
    counted apart and never enter the numbers.
    """
    rows = []
    for (condition, remedy), frame in runs.groupby(["condition", "remedy"], sort=True):
        finished = frame[frame["status"] == FINISHED]
        for metric in metrics:
            interval = mean_ci(finished[metric.key].astype(float))
            rows.append({
                "condition": condition, "dataset": frame["dataset"].iloc[0],
                "setting": frame["setting"].iloc[0], "remedy": remedy,
                "remedy_label": frame["remedy_label"].iloc[0],
                "metric": metric.key, "label": metric.title(iw_k(frame)),
                "n": interval.n, "failed": int((frame["status"] == FAILED).sum()),
                "unfinished": int((frame["status"] == UNFINISHED).sum()),
                "mean": interval.mean, "std": interval.std, "ci_low": interval.low, "ci_high": interval.high,
            })
    return pd.DataFrame(rows)


def resolve_baseline(runs: pd.DataFrame, baseline: str) -> str | None:
    """The remedy spec in the store that `baseline` names: a spec, a label, or a spec that gives some
    parameters (`kl-annealing(epochs=5)`) and matches one stored spec; None when none matches.

    Raises ConfigError when it matches several, naming them.
    """
    specs = set(runs["remedy"])
    if baseline in specs:
        return baseline
    by_label = runs.loc[runs["remedy_label"] == baseline, "remedy"].unique()
    if len(by_label) == 1:
        return str(by_label[0])
    wanted = spec_parts(baseline)
    matches = sorted(spec for spec in specs if spec_matches(wanted, spec_parts(spec)))
    if len(matches) > 1:
        raise ConfigError(f"baseline '{baseline}' matches {len(matches)} remedies in the store: "
                          f"{', '.join(matches)}; give one of them")
    return matches[0] if matches else None


def conditions_without(runs: pd.DataFrame, remedy: str | None) -> list[str]:
    """Cells with no run of `remedy` at all: no test can be made there."""
    have = set(runs.loc[runs["remedy"] == remedy, "condition"]) if remedy else set()
    return sorted(set(runs["condition"]) - have)


SIGNIFICANCE_COLUMNS = [
    "condition", "remedy", "remedy_label", "metric", "label", "n", "n_baseline", "diff", "hedges_g",
    "t", "df", "p", "p_holm", "note",
]


def significance(
    runs: pd.DataFrame, baseline: str | None, metrics: Iterable[Metric] = METRICS
) -> pd.DataFrame:
    """Each remedy against `baseline` in the same cell, per tested metric.

    Welch's t-test, Hedges' g (remedy - baseline), and Holm's adjustment within
    each metric over all its comparisons in the store (every remedy in every
    cell is one comparison of that metric's family). Untestable comparisons
    carry a note and no p-value, and are not in the Holm family.
    """
    tested = [metric for metric in metrics if metric.tested]
    rows = []
    for condition, frame in runs.groupby("condition", sort=True):
        if condition in conditions_without(runs, baseline):
            continue
        finished = frame[frame["status"] == FINISHED]
        base = finished[finished["remedy"] == baseline]
        for remedy, all_runs in frame[frame["remedy"] != baseline].groupby("remedy", sort=True):
            group = finished[finished["remedy"] == remedy]
            for metric in tested:
                result = welch(group[metric.key].astype(float), base[metric.key].astype(float))
                rows.append({
                    "condition": condition, "remedy": remedy,
                    "remedy_label": all_runs["remedy_label"].iloc[0],
                    "metric": metric.key, "label": metric.title(iw_k(all_runs)), "n": result.n,
                    "n_baseline": result.n_baseline, "diff": result.diff, "hedges_g": result.hedges_g,
                    "t": result.t, "df": result.df, "p": result.p, "note": result.reason,
                })
    table = pd.DataFrame(rows, columns=[c for c in SIGNIFICANCE_COLUMNS if c != "p_holm"])
    table["p_holm"] = np.nan
    for _, index in table.groupby("metric").groups.items():
        table.loc[index, "p_holm"] = holm(table.loc[index, "p"].to_numpy())
    return table[SIGNIFICANCE_COLUMNS]
