"""Write a report folder from a store: report.md, the CSVs, table.tex and the figures.

Everything is computed before the first file is written, so a store that
cannot be reported (no runs) leaves nothing behind; each file is written
atomically. `report.md` is meant to be read without the code: it says what
every number is, in which unit, which direction is good, and how many runs
stand behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench import store
from bench.markdown import markdown_table, number, p_value, signed
from bench.report.baseline import conditions_without, remedy_order, resolve_baseline
from bench.report.diagnoses import diagnosis_markdown, validation_table, with_diagnoses
from bench.report.escape import NULL_QUANTILE, mi_null_threshold, run_vmf_kappa
from bench.report.latex import latex_table
from bench.report.plots import FigureFile, all_figures
from bench.report.runs_frame import (
    FAILED,
    FINISHED,
    UNFINISHED,
    data_read,
    load_run_tables,
    load_runs,
    shared_eval_files,
)
from bench.report.sentence_tests import sentence_markdown, with_sentence_tests
from bench.report.summaries import (
    METRIC,
    METRICS,
    PROBE_METRIC,
    iw_k,
    reported_metrics,
    significance,
    summary,
)
from bench.report.verdict_tables import leaderboard_markdown, verdict_markdown
from bench.report.verdicts import leaderboard, verdicts, with_escapes

SUMMARY_METRICS = ("nll_iw", "ppl_iw", "neg_elbo", "kl", "mi", "au")


@dataclass
class Report:
    """What `build_report` wrote, for the CLI to print."""

    out: Path
    runs: int
    baseline: str | None  # the baseline's spec, None when no run matches
    files: list[Path] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # also in report.md; the CLI repeats them on stderr


def build_report(store_dir: Path, out: Path | None = None, baseline: str = "none") -> Report:
    """Build every table and figure of the suite folder `store_dir` into `out` (default STORE/report)."""
    store_dir = Path(store_dir)
    out = Path(out) if out is not None else store_dir / "report"
    damaged: list[str] = []  # runs and tables left out because a file of theirs does not read whole
    runs = with_escapes(load_runs(store_dir, damaged))  # ConfigError on an empty store, before any write
    curves = load_run_tables(store_dir, runs, store.CURVE, damaged)
    validation = validation_table(store_dir, runs)  # per epoch: the amortisation gap, where recorded
    runs = with_diagnoses(runs, curves, validation)
    base = resolve_baseline(runs, baseline)
    order = remedy_order(runs, base)
    table = summary(runs, reported_metrics(runs))
    tests = with_sentence_tests(significance(runs, base), runs, load_run_tables(
        store_dir, runs, store.PER_SENTENCE, damaged, into="the per-sentence tests"), base)
    decided = verdicts(runs, store_dir)
    board = leaderboard(runs, decided)
    figures = all_figures(
        runs, table, curves, load_run_tables(store_dir, runs, store.SNAPSHOTS, damaged), order, validation,
    )
    warnings = [*damaged,
                *(shared_split_warning(dataset, path) for dataset, path in shared_eval_files(runs).items())]
    texts = {
        "report.md": markdown_report(store_dir, runs, table, tests, figures, baseline, base, order, warnings,
                                     decided, board),
        "verdicts.csv": decided.to_csv(index=False),
        "leaderboard.csv": board.to_csv(index=False),
        "summary.csv": table.to_csv(index=False),
        "significance.csv": tests.to_csv(index=False),
        "runs.csv": runs.to_csv(index=False),
        "table.tex": latex_table(runs, table, tests, order, baseline_label(runs, baseline, base)),
    }
    files = {name: text.encode() for name, text in texts.items()}
    for figure in figures:  # rendered before anything is written
        files.update({figure.name: figure.png(), figure.pdf_name: figure.pdf()})
    report = Report(out=out, runs=len(runs), baseline=base, figures=[figure.name for figure in figures],
                    warnings=warnings)
    for name, data in files.items():
        store.atomic_write_bytes(out / name, data)
        report.files.append(out / name)
    return report


def shared_split_warning(dataset: str, path: str) -> str:
    """Why a reader should not take `dataset`'s test numbers as held out."""
    return (f"{dataset}: the validation and test splits are the same file ({path}). Validation picks "
            "the checkpoint (best epoch) and the learning-rate decay, so the test numbers are not "
            "from held-out data.")


# ------------------------------------------------------------------ numbers


def _mean_ci(row: pd.Series, digits: int, pm: str = " ± ") -> str:
    """`mean ± half-width`, the mean alone for n = 1, a dash for n = 0."""
    if row["n"] == 0:
        return "—"
    if row["n"] == 1:
        return number(row["mean"], digits)
    half = (row["ci_high"] - row["ci_low"]) / 2
    return f"{number(row['mean'], digits)}{pm}{number(half, digits)}"


# ----------------------------------------------------------------- markdown


def run_counts(runs: pd.DataFrame) -> str:
    status = runs["status"].value_counts()
    parts = [f"{status.get(FINISHED, 0)} finished", f"{status.get(FAILED, 0)} failed"]
    if status.get(UNFINISHED, 0):
        parts.append(f"{status[UNFINISHED]} unfinished (no metrics.json yet)")
    return f"{len(runs)} runs ({', '.join(parts)})"


def _how_to_read(baseline: str, probed: bool) -> str:
    text = f"""## How to read this report

- **NLL (IW, k=…)**: importance-weighted estimate of -log p(x) with k samples from q(z|x), in nats per
  test sentence; **lower is better**. **PPL (IW)** = exp(total NLL / total words, end-of-sentence counted).
- **-ELBO (1 sample)**: the negative evidence lower bound from one z sample, nats per sentence. It bounds
  the NLL from above; it is a different quantity and is never listed under the NLL's label.
- **KL** (nats, KL(q(z|x) || p(z)) averaged over test sentences), **MI** (nats, I_q(x; z) against the
  aggregate posterior; `mi_estimator` in runs.csv says over which sentences) and **AU** (active units:
  latent dimensions whose posterior mean varies over x, out of nz): **higher = less collapse, which is
  not better per se**.
  Collapse reads as KL = MI = AU = 0; a remedy that buys KL with a worse NLL has not won.
- Each cell is the **mean ± half-width of the 95% t-interval over seeds** (t with n-1 degrees of freedom);
  n is the number of finished runs. With n = 1 only the value is given, with n = 0 a dash. Failed runs
  are counted apart and never enter a number.
- **Significance**: each remedy against the baseline `{baseline}` in the same dataset, per metric:
  Welch's t-test (no equal-variance assumption), p-values **Holm-adjusted within each metric** over all
  comparisons in this report, effect size **Hedges' g** (remedy - baseline over the pooled SD, with the
  exact small-sample correction). Where a side has n < 2, or neither side varies over seeds, the
  comparison is **not testable** and gets no p-value.
- Runs of one dataset whose config differs beyond the seed (`model.nz=1`, another optimiser) form a row
  group of their own and are never pooled with the others. Its title is `dataset: label` where the suite
  file names it (`label`), else the dataset with the differing values in parentheses
  (`synthetic (model.nz=1, …)`); the section *Row groups* lists the values behind each title."""
    return text + _PROBE_NOTE if probed else text


_PROBE_NOTE = """
- **probe bal. acc.** (`collapse-bench probe`, labelled datasets only): test balanced accuracy (the mean
  of the per-label recalls, so chance is 1 / number of labels whatever the majority share) of a logistic
  regression that predicts each sentence's label (sentiment) from its posterior mean E_q[z|x], trained on
  the run's training sentences. It says what z knows, where KL, MI and AU say how much. Read it against
  the same classifier on bag-of-words features and chance (figure `probe.png`; columns
  `probe_bow_bal_acc` and `probe_chance_bal_acc` in runs.csv; plain accuracies in `probe_acc`,
  `probe_bow_acc`, `probe_chance_acc`). `probe_white_bal_acc` is the same probe on whitened means (each
  unit standardised over the training sentences), which a collapsed z's tiny but consistent variation
  can still pass. Not in the significance tests."""


def markdown_report(store_dir: Path, runs: pd.DataFrame, table: pd.DataFrame, tests: pd.DataFrame,
                    figures: list[FigureFile], baseline: str, base: str | None, order: list[str],
                    warnings: Sequence[str] = (), decided: pd.DataFrame | None = None,
                    board: pd.DataFrame | None = None) -> str:
    """The whole report.md text; `warnings` go first, under the counts."""
    shown = baseline_label(runs, baseline, base)
    parts = [
        f"# Posterior-collapse report: {store_dir.name}",
        f"Built by `collapse-bench report` from `{store_dir}`: {run_counts(runs)}, "
        f"{runs['condition'].nunique()} dataset cell(s), {runs['remedy'].nunique()} remedies. "
        f"Baseline for the tests: `{shown}`.",
        *(["## Warnings\n\n" + "\n".join(f"- **{warning}**" for warning in warnings)] if warnings else []),
        _how_to_read(shown, PROBE_METRIC.key in set(table["metric"])),
        "## Remedies\n\nShort labels used in tables and figures, and the full spec each stands for.\n\n"
        + markdown_table(
            ["label", "remedy spec (all parameters)"],
            [[label, f"`{spec}`"] for label, spec in _label_specs(runs, order)], [False, False]),
        *([_verdict_section(runs, decided)] if decided is not None and not decided.empty else []),
        *([_leaderboard_section(board)] if board is not None and not board.empty else []),
        *filter(None, [diagnosis_markdown(runs, order)]),
        _row_groups(runs),
        _data_section(runs),
        "## Summary: test metrics per dataset and remedy\n\n" + _summary_tables(runs, table, order),
        f"## Significance against `{shown}`\n\n" + _significance_tables(runs, tests, base, shown, order),
        *filter(None, [sentence_markdown(tests, order, shown)]),
    ]
    failed = runs[runs["status"] == FAILED]
    if not failed.empty:
        rows = [[r.run_id, r.condition, r.remedy_label, str(r.seed), _short(r.reason)]
                for r in failed.itertuples()]
        parts.append("## Failed runs\n\nRecorded with their reason and excluded from every number above.\n\n"
                     + markdown_table(["run", "dataset", "remedy", "seed", "reason"], rows,
                                      [False, False, False, True, False]))
    parts.append("## Figures\n\n" + "\n\n".join(
        f"### {figure.title}\n\n![{figure.title}]({figure.name})\n\n*{figure.caption}*"
        for figure in figures))
    parts.append(
        "## Files\n\n- `verdicts.csv`: every finding decided, with its counts, intervals, control and "
        "reason.\n- `leaderboard.csv`: one row per row group and remedy, with the intervals the leaderboard "
        "shows.\n- `summary.csv`: one row per dataset cell, remedy and metric (n, failed, mean, std, "
        "95% CI).\n- `significance.csv`: every comparison with t, df, p, Holm-adjusted p and Hedges' g; on "
        "the NLL rows, the test on the same sentences (`sentences`, `sentence_diff`, ..., `sentence_note`).\n"
        "- `runs.csv`: one row per run, config flattened, metrics and status.\n"
        "- `table.tex`: the summary as a booktabs table (`\\usepackage{booktabs}`).\n"
        "- `*.pdf`: each figure as vector graphics, beside its PNG.")
    return "\n\n".join(parts) + "\n"


def null_thresholds(runs: pd.DataFrame) -> list[tuple[int, int, str, float]]:
    """(N, nz, family, threshold) of the MI null for each evaluation-set size, latent size and posterior
    family ("" for a Gaussian posterior, "vMF kappa K" for a vMF one) among the finished runs."""
    finished = runs[(runs["status"] == FINISHED) & runs["n_sentences"].notna() & runs["model.nz"].notna()]
    sizes = sorted({(int(run["n_sentences"]), int(run["model.nz"]), run_vmf_kappa(run) or 0.0)
                    for _, run in finished.iterrows()})
    return [(n, nz, f"vMF kappa {kappa:g}" if kappa else "",
             mi_null_threshold(n, nz, vmf_kappa=kappa or None)) for n, nz, kappa in sizes]


def _verdict_section(runs: pd.DataFrame, decided: pd.DataFrame) -> str:
    thresholds = "; ".join(f"N = {n}, nz = {nz}{', ' + family if family else ''}: MI > {threshold:.3f} nats"
                           for n, nz, family, threshold in null_thresholds(runs))
    return f"""## Verdicts

Each paper's finding is a prediction decided by the written rules of docs/protocol.md ("Verdicts"),
fixed before the runs (`bench/report/verdicts.py`):

- A run **escapes** collapse when its test MI exceeds the inactive-encoder null (the
  {NULL_QUANTILE:.0%} point of the MI estimate over simulated encoders whose every unit sits at the AU
  line, at the run's N and nz: {thresholds or "no finished run"}) **and** AU >= 1. A failed run did not
  escape.
- Escape rates are k / n with a Wilson 95% interval, compared with the control (`none` with the same init)
  by a one-sided Fisher exact test, Holm-adjusted over every such test in this report.
- *escapes*: reproduced at >= 80% escaping, above the control (p < 0.05) and NLL within 1 nat of it (upper
  end of the Welch 95% interval); not reproduced at <= 20%; partly in between. *collapses*: reproduced at
  <= 20% escaping. *costs NLL*: the NLL difference's interval above 0.
- A verdict is given on the seeds the suite fixed up front; fewer read **incomplete**. A finding about the
  plain VAE or a remedy that acts through the KL weight reads **not testable at this size**, whatever
  collapse alone would give, unless the row group's autoencoder control (KL weight 0) encodes at its last
  epoch on >= 80% of its seeds.

{verdict_markdown(decided)}"""


def _leaderboard_section(board: pd.DataFrame) -> str:
    return ("## Leaderboard\n\nMeans over the runs that finished, with the interval each column names: the "
            "NLL's 95% t-interval; for KL, MI and AU, which are bounded and often split over seeds "
            "(0, 0, 16 units), a 95% percentile bootstrap interval of the mean over seeds; escaped runs with "
            "the Wilson 95% interval of the rate. Wall time is per run (training and evaluation); gradient "
            "steps count every update, an aggressive run's inner encoder steps included (— where the run "
            "predates the count). Collapse onset: the first training step after which the MI on the fixed "
            "validation batch stays at or below the escape rule's null threshold at that batch's size; the "
            "median over the runs whose curve collapses, with how many do of the runs with an MI curve."
            "\n\n" + leaderboard_markdown(board))


def baseline_label(runs: pd.DataFrame, baseline: str, base: str | None) -> str:
    """The baseline as tables name it: its short label, or what the user asked for when no run has it."""
    return runs.loc[runs["remedy"] == base, "remedy_label"].iloc[0] if base else baseline


def _short(text: str, limit: int = 140) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row_groups(runs: pd.DataFrame) -> str:
    """Each row group's title, its runs, and the config values that set it apart from its dataset's
    other runs: a label in a title hides them."""
    rows = [[condition, str(len(frame)), frame["setting"].iloc[0] or "(the dataset's usual config)"]
            for condition, frame in runs.groupby("condition", sort=True)]
    return ("## Row groups\n\nRuns are pooled only within a row group.\n\n"
            + markdown_table(["row group", "runs", "config that sets it apart"], rows, [False, True, False]))


def _data_section(runs: pd.DataFrame) -> str:
    """What each row group's runs read, as their metrics.json records it."""
    rows = [[condition, str(count), account] for condition, count, account in data_read(runs)]
    return ("## Data\n\nWhat each row group's runs read, as their metrics.json records it (sha256 shortened "
            "to 12 hex digits). Runs of one row group that read different data are listed apart.\n\n"
            + markdown_table(["row group", "runs", "data read"], rows, [False, True, False]))


def _label_specs(runs: pd.DataFrame, order: list[str]) -> list[tuple[str, str]]:
    specs = runs.drop_duplicates("remedy").set_index("remedy_label")["remedy"]
    return [(label, specs[label]) for label in order]


def _summary_tables(runs: pd.DataFrame, table: pd.DataFrame, order: list[str]) -> str:
    blocks = []
    for condition, cell in table.groupby("condition", sort=True):
        cell_runs = runs[runs["condition"] == condition]
        k = iw_k(cell_runs)
        unfinished = bool((cell["unfinished"] > 0).any())
        keys = [*SUMMARY_METRICS, *([PROBE_METRIC.key] if _probed(cell) else [])]
        headers = ["remedy", "n", "failed", *(["unfinished"] if unfinished else []),
                   *(METRIC[key].title(k) + (f" [{METRIC[key].unit}]" if METRIC[key].unit else "")
                     for key in keys)]
        rows = []
        for label in [label for label in order if label in set(cell["remedy_label"])]:
            by_metric = cell[cell["remedy_label"] == label].set_index("metric")
            statuses = cell_runs.loc[cell_runs["remedy_label"] == label, "status"]
            counts = [str(int((statuses == FINISHED).sum())), str(int((statuses == FAILED).sum()))]
            if unfinished:
                counts.append(str(int((statuses == UNFINISHED).sum())))
            rows.append([label, *counts,
                         *(_mean_ci(by_metric.loc[key], METRIC[key].digits) for key in keys)])
        right = [False] + [True] * (len(headers) - 1)
        blocks.append(f"### {condition}\n\n" + markdown_table(headers, rows, right))
    return "\n\n".join(blocks)


def _probed(cell: pd.DataFrame) -> bool:
    """Whether some run of this cell of the summary has a probe accuracy."""
    return bool((cell.loc[cell["metric"] == PROBE_METRIC.key, "n"] > 0).any())


def _significance_tables(runs: pd.DataFrame, tests: pd.DataFrame, base: str | None, shown: str,
                         order: list[str]) -> str:
    blocks = []
    missing = conditions_without(runs, base)
    if missing:
        blocks.append(f"No run of the baseline `{shown}` in: " + ", ".join(f"**{c}**" for c in missing)
                      + ". No tests there; pass `--baseline REMEDY` to compare against another remedy.")
    rank = {label: index for index, label in enumerate(order)}
    metric_rank = {metric.key: index for index, metric in enumerate(METRICS)}
    for condition, cell in tests.groupby("condition", sort=True):
        cell = cell.assign(_r=cell["remedy_label"].map(rank), _m=cell["metric"].map(metric_rank))
        rows = []
        for r in cell.sort_values(["_r", "_m"]).itertuples():
            digits = METRIC[r.metric].digits
            p_welch = p_value(r.p) if not r.note else r.note
            rows.append([r.remedy_label, r.label, f"{r.n} / {r.n_baseline}", signed(r.diff, digits),
                         signed(r.hedges_g, 2), p_welch, p_value(r.p_holm)])
        headers = ["remedy", "metric", "n (remedy / baseline)", f"Δ mean (remedy - {shown})", "Hedges' g",
                   "p (Welch)", "p (Holm)"]
        blocks.append(f"### {condition}\n\n" + markdown_table(headers, rows, [False, False, True, True, True,
                                                                              True, True]))
    if tests.empty and not missing:
        blocks.append("No remedy besides the baseline: nothing to compare.")
    return "\n\n".join(blocks)
