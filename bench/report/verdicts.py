"""The verdict table: each paper's finding written as a prediction and decided by a written rule.

docs/protocol.md ("Verdicts") states the rules in words; this module is the
only place that applies them, and `collapse-bench report` writes what it
decides to verdicts.csv and leaderboard.csv. The rules, fixed before the runs:

- A run **escapes** by `bench.report.escape` (MI above the inactive-encoder
  null and AU >= 1). A failed (diverged) run counts as a run that did not.
- A cell's escape rate is k of n runs with a Wilson 95% interval, and is
  compared with its control's (`none` with the same init) by a one-sided
  Fisher exact test, Holm-adjusted over every such comparison in the store.
- A verdict is given only on the seeds the suite fixed up front: fewer
  finished or failed runs than planned cells read "incomplete".
- **escapes** (the remedy uses z): reproduced when >= 80% of the runs
  escape, the rate exceeds the control's (Holm-adjusted p < 0.05) and the
  NLL is not worse than the control's by more than 1 nat (the Welch 95%
  interval of the difference ends below +1); not reproduced when <= 20%
  escape; partly reproduced in between, or when only the NLL margin fails;
  inconclusive when the rate is high but not above the control's.
- **collapses**: reproduced when <= 20% of the runs escape, not reproduced
  when >= 80%, partly reproduced in between.
- **costs NLL**: reproduced when the Welch 95% interval of NLL minus the
  control's lies above 0, not reproduced when below, inconclusive otherwise.
- A finding about a remedy that acts through the KL weight (or the plain
  VAE itself) needs the **autoencoder control** (KL weight 0) of its row
  group to encode on >= 80% of its seeds at their last epoch; where it does
  not, or there is none, an outcome that collapse alone would produce reads
  "not testable at this size" (no escape was possible to observe): for an
  "escapes" finding every outcome but "reproduced", for a "collapses"
  finding every outcome but "not reproduced".
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import store
from bench.report.escape import control_encodes, escape_flags
from bench.report.labels import short_labels
from bench.report.runs_frame import FAILED, FINISHED
from bench.report.specs import spec_parts
from bench.report.stats import bootstrap_interval, fisher_greater, holm, mean_ci, welch_interval, wilson
from bench.syntax import spec_matches

ESCAPE_HIGH = 0.8  # share of runs that escape for "escapes" to hold
ESCAPE_LOW = 0.2  # at or below it, "does not escape"
NLL_MARGIN = 1.0  # nats: how much worse than its control a remedy's NLL may be and still "work"
ALPHA = 0.05
BASELINE = "none"
AUTOENCODER = "beta(beta=0)"  # the autoencoder control: KL weight 0


def autoencoder_control(spec: str) -> bool:
    """Whether `spec` is the autoencoder control (KL weight 0), as the verdicts name it."""
    return spec_matches(spec_parts(AUTOENCODER), spec_parts(spec))

REPRODUCED, NOT_REPRODUCED, PARTLY = "reproduced", "not reproduced", "partly reproduced"
INCONCLUSIVE, NOT_TESTABLE, INCOMPLETE = "inconclusive", "not testable at this size", "incomplete"
PASSES, FAILS = "passes", "fails"


@dataclass(frozen=True)
class Finding:
    """A paper's finding as a prediction about one remedy's cell, decided by the rule of `prediction`."""

    key: str
    paper: str
    claim: str
    remedy: str  # a spec pattern: names, and the parameters that must match (`word-dropout(keep=0.5)`)
    prediction: str  # "escapes", "collapses" or "costs NLL"
    needs_encoder: bool  # decided only where the autoencoder control encodes


FINDINGS: tuple[Finding, ...] = (
    Finding("vae-collapses", "Bowman et al. 2016; He et al. 2019 (submission version, Table 2)",
            "the plain VAE collapses", "none", "collapses", True),
    Finding("vae-anneal-collapses", "He et al. 2019 (submission version, Table 2: KL 0.0, under SGD)",
            "VAE + anneal collapses", "kl-annealing", "collapses", True),
    Finding("aggressive-anneal-escapes", "He et al. 2019 (submission version, Table 2, main row)",
            "aggressive training with KL annealing uses z at an NLL no worse than the VAE's",
            "aggressive+kl-annealing", "escapes", False),
    Finding("aggressive-escapes", "He et al. 2019 (submission version, Table 2)",
            "aggressive training uses z", "aggressive", "escapes", False),
    Finding("bn-vae-escapes", "Zhu et al. 2020", "BN-VAE uses z", "bn-vae", "escapes", False),
    Finding("cyclical-escapes", "Fu et al. 2019", "cyclical annealing uses z", "cyclical", "escapes", True),
    Finding("word-dropout-costs-nll", "Bowman et al. 2016", "word dropout (keep 0.5) costs NLL",
            "word-dropout(keep=0.5)", "costs NLL", False),
    Finding("pretrain-fb-escapes", "Li et al. 2019", "autoencoder pretraining + free bits uses z",
            "pretrain-fb", "escapes", True),
    Finding("free-bits-escapes", "Kingma et al. 2016", "free bits use z", "free-bits", "escapes", True),
    Finding("beta-escapes", "He et al. 2019 (submission version, Table 2: beta 0.4, KL 3.8-4.0, MI 1.8-2.2)",
            "beta-VAE with beta = 0.4 uses z", "beta(beta=0.4)", "escapes", True),
    Finding("cnn-escapes", "Yang et al. 2017", "a dilated-CNN decoder uses z", "dilated-cnn", "escapes",
            False),
    Finding("du-vae-escapes", "Shen et al. 2021", "DU-VAE uses z", "du-vae", "escapes", False),
    Finding("delta-vae-escapes", "Razavi et al. 2019", "delta-VAE uses z", "delta-vae", "escapes", False),
    Finding("skip-vae-escapes", "Dieng et al. 2019", "Skip-VAE uses z", "skip-vae", "escapes", False),
    Finding("bow-escapes", "Zhao et al. 2017", "a bag-of-words loss makes z carry information", "bow",
            "escapes", False),
    Finding("min-rate-escapes", "Pelsmaeker & Aziz 2020", "a minimum desired rate keeps z in use", "min-rate",
            "escapes", True),
    Finding("capacity-escapes", "Burgess et al. 2018; Prokhorov et al. 2019",
            "a KL capacity target keeps z in use", "capacity", "escapes", True),
    Finding("vmf-escapes", "Xu & Durrett 2018", "a fixed-kappa vMF posterior keeps z in use", "vmf",
            "escapes", True),
)

VERDICT_COLUMNS = [
    "dataset", "row_group", "finding", "paper", "claim", "remedy", "remedy_label", "n_planned", "n_seeds",
    "escaped", "escape_low", "escape_high", "control", "control_escaped", "control_n", "p_fisher",
    "p_fisher_holm", "nll_diff", "nll_low", "nll_high", "verdict", "reason",
]
LEADERBOARD_COLUMNS = [
    "dataset", "row_group", "remedy", "remedy_label", "n_seeds", "k", "nll", "nll_low", "nll_high", "kl",
    "kl_low", "kl_high", "mi", "mi_low", "mi_high", "au", "au_low", "au_high", "escaped", "escape_low",
    "escape_high", "verdict", "wall_s", "gradient_steps", "collapse_onset", "curve_collapsed", "curve_runs",
]


def matching(runs: pd.DataFrame, pattern: str) -> list[str]:
    """The stored remedy specs a finding's pattern names (same remedies, the given parameters equal)."""
    wanted = spec_parts(pattern)
    return sorted(spec for spec in runs["remedy"].unique() if spec_matches(wanted, spec_parts(str(spec))))


def planned_cells(store_dir: Path | None) -> dict[tuple[str, str, str | None], int]:
    """(dataset, remedy, label) -> how many cells the suite fixed up front (suite.json), all seeds."""
    record = Path(store_dir) / store.SUITE if store_dir is not None else None
    if record is None or not record.exists():
        return {}
    counts: dict[tuple[str, str, str | None], int] = {}
    for cell in store.read_json(record).get("cells", []):
        if "dataset" not in cell or "remedy" not in cell:  # a record that names only run ids and labels
            continue
        key = (cell["dataset"], cell["remedy"], cell.get("label"))
        counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass(frozen=True)
class Cell:
    """The runs of one remedy in one row group, with what the rules need of them."""

    runs: pd.DataFrame
    planned: int

    @property
    def ran(self) -> pd.DataFrame:
        return self.runs[self.runs["status"].isin([FINISHED, FAILED])]

    @property
    def n(self) -> int:
        return len(self.ran)

    @property
    def escaped(self) -> int:
        return int(self.ran["escaped"].eq(True).sum())

    @property
    def complete(self) -> bool:
        return self.n >= self.planned

    def values(self, key: str) -> np.ndarray:
        finished = self.runs[self.runs["status"] == FINISHED]
        return finished[key].astype(float).to_numpy()


def _planned_key(run: Any) -> tuple[str, str, str | None]:
    """A run's (dataset, remedy, label): how suite.json counts the cells it plans."""
    return run.dataset, run.remedy, run.row_group if isinstance(run.row_group, str) else None


def _cell(runs: pd.DataFrame, planned: dict[tuple[str, str, str | None], int]) -> Cell:
    keys = {_planned_key(run) for run in runs.itertuples()}
    count = sum(planned.get(key, 0) for key in keys)
    return Cell(runs, max(count, len(runs)))


def with_escapes(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs frame with an `escaped` column (True / False; empty for runs without test metrics)."""
    return runs.assign(escaped=escape_flags(runs))


def _control_for(runs: pd.DataFrame, cell: Cell) -> pd.DataFrame:
    """`none` runs of the same dataset with the cell's init, from its own row group where it has them."""
    first = cell.runs.iloc[0]
    same_init = runs["model.init"].eq(first["model.init"]) if "model.init" in runs else True
    candidates = runs[(runs["dataset"] == first["dataset"]) & (runs["remedy"] == BASELINE) & same_init]
    own = candidates[candidates["condition"] == first["condition"]]
    chosen = own if not own.empty else candidates
    if chosen.empty:
        return chosen
    return chosen[chosen["condition"] == chosen["condition"].iloc[0]]


@dataclass(frozen=True)
class ControlState:
    """Whether a row group's autoencoder control encodes: PASSES, FAILS, INCOMPLETE, or None (no control),
    with the control's runs where it has any."""

    state: str | None
    text: str
    cell: Cell | None = None


def autoencoder_state(runs: pd.DataFrame, condition: str, planned: dict[tuple[str, str, str | None], int],
                      absent: list[Absent]) -> ControlState:
    """The row group's autoencoder control by the escape rule at its last epoch: PASSES on >= 80% of its
    seeds, FAILS below, INCOMPLETE until every planned seed has run (or started), None where there is none."""
    group = runs[runs["condition"] == condition]
    specs = matching(group, AUTOENCODER)
    if not specs:
        waiting = [cell for cell in absent if cell.condition == condition and cell.matches(AUTOENCODER)]
        if waiting:
            return ControlState(INCOMPLETE,
                                f"autoencoder control: 0 of {waiting[0].planned} planned seeds ran")
        return ControlState(None, "no autoencoder control (KL weight 0) in this row group")
    cell = _cell(group[group["remedy"].isin(specs)], planned)
    encodes = [control_encodes(row) for _, row in cell.ran.iterrows()]
    k = sum(1 for flag in encodes if flag)
    text = f"autoencoder control encodes on {k} of {cell.n} seeds at its last epoch"
    if not cell.complete:
        return ControlState(INCOMPLETE, f"{text} ({cell.n} of {cell.planned} planned seeds ran)", cell)
    return ControlState(PASSES if cell.n and k / cell.n >= ESCAPE_HIGH else FAILS, text, cell)


@dataclass(frozen=True)
class Absent:
    """A remedy the suite planned in a row group of which no run has started yet."""

    dataset: str
    condition: str
    remedy: str
    planned: int

    def matches(self, pattern: str) -> bool:
        return spec_matches(spec_parts(pattern), spec_parts(self.remedy))


def absent_cells(runs: pd.DataFrame, planned: dict[tuple[str, str, str | None], int]) -> list[Absent]:
    """Planned (dataset, remedy, label) cells with no run in the store, placed in the row group their
    label titles (or a title made as the report makes it when the label has no run yet)."""
    started = {_planned_key(run) for run in runs.itertuples()}
    titles = {(r.dataset, r.row_group): r.condition for r in runs.itertuples()
              if isinstance(r.row_group, str)}
    return [Absent(dataset, titles.get((dataset, label), f"{dataset}: {label}" if label else dataset), remedy,
                   count)
            for (dataset, remedy, label), count in planned.items() if (dataset, remedy, label) not in started]


def verdicts(runs: pd.DataFrame, store_dir: Path | None = None) -> pd.DataFrame:
    """One row per finding and matching remedy in each row group, plus one per autoencoder control."""
    if "escaped" not in runs:
        runs = with_escapes(runs)
    planned = planned_cells(store_dir)
    absent = absent_cells(runs, planned)
    controls, pending, waiting = [], [], []
    for condition, group in runs.groupby("condition", sort=True):
        state = autoencoder_state(runs, condition, planned, absent)
        if state.cell is not None:
            controls.append(_control_row(state.cell, condition, state))
        for finding in FINDINGS:
            for spec in matching(group, finding.remedy):
                cell = _cell(group[group["remedy"] == spec], planned)
                control = _control_for(runs, cell)
                own = control.empty or set(control["run_id"]) == set(cell.runs["run_id"])  # `none` itself
                pending.append(Decision(finding, cell, None if own else _cell(control, planned), state,
                                        condition))
    for cell in absent:
        label = short_labels([cell.remedy])[cell.remedy]
        waiting += [{"dataset": cell.dataset, "row_group": cell.condition, "finding": finding.key,
                     "paper": finding.paper, "claim": finding.claim, "remedy": cell.remedy,
                     "remedy_label": label,
                     "n_planned": cell.planned, "n_seeds": 0, "escaped": 0, "verdict": INCOMPLETE,
                     "reason": f"0 of {cell.planned} planned seeds ran"}
                    for finding in FINDINGS if cell.matches(finding.remedy)]
    adjusted = holm([decision.p_fisher for decision in pending])  # Holm over every escape test of the store
    rows = [decision.row(p_holm) for decision, p_holm in zip(pending, adjusted, strict=True)]
    return pd.DataFrame([*controls, *rows, *waiting], columns=VERDICT_COLUMNS)


def _control_row(cell: Cell, condition: str, state: ControlState) -> dict[str, Any]:
    return {**_base(cell, condition), "finding": "autoencoder-control", "paper": "",
            "claim": "with the KL weight at 0 the encoder carries information (this size can test a remedy)",
            "verdict": state.state, "reason": state.text, **_escape_numbers(cell)}


def _base(cell: Cell, condition: str) -> dict[str, Any]:
    first = cell.runs.iloc[0]
    return {"dataset": first["dataset"], "row_group": condition, "remedy": first["remedy"],
            "remedy_label": first["remedy_label"], "n_planned": cell.planned, "n_seeds": cell.n}


def _escape_numbers(cell: Cell) -> dict[str, Any]:
    low, high = wilson(cell.escaped, cell.n)
    return {"escaped": cell.escaped, "escape_low": low, "escape_high": high}


@dataclass(frozen=True)
class Decision:
    """One finding on one cell, with its control cell and its row group's autoencoder control."""

    finding: Finding
    cell: Cell
    control: Cell | None
    state: ControlState
    condition: str

    @property
    def tests_escape(self) -> bool:
        return self.finding.prediction == "escapes" and self.control is not None

    @functools.cached_property
    def p_fisher(self) -> float:
        if not self.tests_escape:
            return math.nan
        return fisher_greater(self.cell.escaped, self.cell.n, self.control.escaped, self.control.n)

    def row(self, p_holm: float) -> dict[str, Any]:
        row: dict[str, Any] = {**_base(self.cell, self.condition), "finding": self.finding.key,
                               "paper": self.finding.paper, "claim": self.finding.claim,
                               **_escape_numbers(self.cell), "p_fisher": self.p_fisher,
                               "p_fisher_holm": p_holm}
        if self.control is not None:
            first = self.control.runs.iloc[0]
            nll = welch_interval(self.cell.values("nll_iw"), self.control.values("nll_iw"))
            row.update(control=f"{first['remedy_label']} ({first['condition']})",
                       control_escaped=self.control.escaped, control_n=self.control.n,
                       nll_diff=nll.diff, nll_low=nll.low, nll_high=nll.high)
        verdict, reason = self._rule(row)
        cells = {tuple(cell.runs["run_id"]): cell for cell in (self.cell, self.control) if cell is not None}
        waiting = [f"{cell.n} of {cell.planned} planned seeds of {cell.runs['remedy_label'].iloc[0]} ran"
                   for cell in cells.values() if not cell.complete]
        if self.finding.needs_encoder and self.state.state == INCOMPLETE:
            waiting.append(self.state.text)
        if waiting:
            verdict, reason = INCOMPLETE, f"{'; '.join(waiting)}; so far: {verdict} ({reason})"
        elif self.finding.needs_encoder and self.state.state != PASSES and verdict != self._escape_evidence:
            verdict, reason = NOT_TESTABLE, f"{self.state.text}; measured: {verdict} ({reason})"
        return {**row, "verdict": verdict, "reason": reason}

    @property
    def _escape_evidence(self) -> str:
        """The one verdict that runs escaping shows, which an encoder unable to encode could not produce;
        every other outcome is what collapse alone gives where the autoencoder control fails."""
        return NOT_REPRODUCED if self.finding.prediction == "collapses" else REPRODUCED

    def _rule(self, row: dict[str, Any]) -> tuple[str, str]:
        """The verdict by the finding's own rule, before the completeness and control checks."""
        k, n = self.cell.escaped, self.cell.n
        if n == 0:
            return INCOMPLETE, "no run finished"
        share = k / n
        escaped = f"escapes in {k} of {n}"
        if self.finding.prediction == "collapses":
            return (REPRODUCED if share <= ESCAPE_LOW else NOT_REPRODUCED if share >= ESCAPE_HIGH
                    else PARTLY), escaped
        if self.control is None:
            return INCONCLUSIVE, f"{escaped}; no `{BASELINE}` run with this init to compare with"
        interval = (f"NLL {row['nll_diff']:+.2f} nats vs control, 95% Welch CI "
                    f"[{row['nll_low']:+.2f}, {row['nll_high']:+.2f}]")
        if self.finding.prediction == "costs NLL":
            if row["nll_low"] > 0:
                return REPRODUCED, interval
            return (NOT_REPRODUCED if row["nll_high"] < 0 else INCONCLUSIVE), interval
        versus = f"{escaped} vs control {self.control.escaped} of {self.control.n}"
        if share <= ESCAPE_LOW:
            return NOT_REPRODUCED, versus
        if share < ESCAPE_HIGH:
            return PARTLY, versus
        tested = f"{versus}, Fisher p (Holm) {row['p_fisher_holm']:.3g}; {interval}"
        if not row["p_fisher_holm"] < ALPHA:
            return INCONCLUSIVE, f"{tested}: the escape rate is not shown above the control's"
        if row["nll_high"] <= NLL_MARGIN:
            return REPRODUCED, tested
        return PARTLY, f"{tested}: z is used, but the NLL may be worse by more than {NLL_MARGIN:g} nat"


def leaderboard(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """One row per row group and remedy: NLL with its 95% t-interval, KL, MI and AU with bootstrap
    intervals (bounded, often bimodal over seeds), escaped k of n with Wilson interval, the verdicts,
    mean wall time per run, gradient steps per run, and the collapse onset on the training curves
    (`onset_numbers`; NaN where the runs frame has no onsets: bench.report.diagnoses adds them)."""
    if "escaped" not in runs:
        runs = with_escapes(runs)
    rows = []
    for (condition, remedy), frame in runs.groupby(["condition", "remedy"], sort=True):
        cell = Cell(frame, len(frame))
        nll = mean_ci(cell.values("nll_iw"))
        found = table[(table["row_group"] == condition) & (table["remedy"] == remedy)]
        row: dict[str, Any] = {
            "dataset": frame["dataset"].iloc[0], "row_group": condition, "remedy": remedy,
            "remedy_label": frame["remedy_label"].iloc[0], "n_seeds": cell.n,
            "k": frame["iw_samples"].dropna().iloc[0] if frame["iw_samples"].notna().any() else math.nan,
            "nll": nll.mean, "nll_low": nll.low, "nll_high": nll.high, **_escape_numbers(cell),
            "verdict": "; ".join(f"{r.finding}: {r.verdict}" for r in found.itertuples()),
            "wall_s": _mean(cell.values("time.total_s")) if "time.total_s" in frame else math.nan,
            "gradient_steps": _mean(cell.values("gradient_steps")), **onset_numbers(frame),
        }
        for key in ("kl", "mi", "au"):
            interval = bootstrap_interval(cell.values(key))
            row.update({key: interval.diff, f"{key}_low": interval.low, f"{key}_high": interval.high})
        rows.append(row)
    return pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)


def onset_numbers(frame: pd.DataFrame) -> dict[str, float]:
    """A leaderboard cell's onset columns: the median onset step over the finished runs whose curve
    collapses, how many do, and how many finished runs have an MI curve at all."""
    finished = frame[frame["status"] == FINISHED]
    if "collapse_onset" not in finished:
        return {"collapse_onset": math.nan, "curve_collapsed": math.nan, "curve_runs": math.nan}
    onsets = finished["collapse_onset"].dropna()
    return {"collapse_onset": float(onsets.median()) if len(onsets) else math.nan,
            "curve_collapsed": float(len(onsets)), "curve_runs": float(finished["curve_mi"].sum())}


def _mean(values: np.ndarray) -> float:
    """Mean of the finite values; NaN when there is none (a cell whose runs all failed)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan
