"""The report's figures, drawn headless and byte-stable.

Figures are built on `matplotlib.figure.Figure` directly (never pyplot), so
no GUI backend, global figure registry or `MPLBACKEND` is involved; the
seaborn theme is applied through `rc_context`, so importing this module
changes no global style. Every interval is the t-based 95% CI computed in
`bench.report.stats` (the same numbers as the tables), never a seaborn
bootstrap, and PNGs and PDFs are saved without software stamps or dates, so
the same store gives the same bytes.

Each builder returns a `FigureFile` (or None when its data are absent), with
the title and one-line caption that `report.md` prints under it.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.report.stats import mean_ci, t_half_width
from bench.report.tables import FINISHED, METRIC, NEUTRAL, PARAM, PROBE_METRIC, iw_k, latent_size

DPI = 150
BAR_METRICS = ("nll_iw", "kl", "mi", "au")
SMOOTH_POINTS = 100  # the per-step KL is smoothed to about this many windows over a run
SNAPSHOT_COLUMNS = 4
MIN_WIDTH = 7.5  # inches: room for a figure title even with one panel
NATS_SPAN = 0.1  # KL and MI axes show at least [0, 0.1] nats
MI_BELOW_ZERO = "MI estimates below 0 are estimator noise: MI itself is ≥ 0"


@dataclass(frozen=True)
class FigureFile:
    """A figure of the report: PNG file name in the report folder, heading, caption, the figure.

    The figure itself is kept (not only its bytes) so that tests can read
    its axes, limits and labels.
    """

    name: str
    title: str
    caption: str
    figure: Figure = field(repr=False, compare=False)

    @property
    def pdf_name(self) -> str:
        """The vector copy for a paper, beside the PNG."""
        return self.name.removesuffix(".png") + ".pdf"

    def png(self) -> bytes:
        """PNG without the software stamp, so the same store gives the same bytes."""
        return self._saved("png", dpi=DPI, metadata={"Software": None})

    def pdf(self) -> bytes:
        """PDF without creation date or producer, so the same store gives the same bytes."""
        return self._saved("pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None})

    def _saved(self, fmt: str, **options: Any) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format=fmt, **options)
        return buffer.getvalue()


@contextmanager
def _style() -> Iterator[None]:
    """Seaborn's whitegrid theme for the figures made inside, leaving global rcParams untouched."""
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.1),
          "axes.titleweight": "bold"}
    with mpl.rc_context(rc):
        yield


def palette(order: list[str]) -> dict[str, tuple[float, float, float]]:
    """One colour per remedy label, the same in every figure (colour-blind safe up to 10)."""
    colours = sns.color_palette("colorblind" if len(order) <= 10 else "husl", len(order))
    return dict(zip(order, colours, strict=True))


# Scatter markers by remedy, so that remedies whose colours are close (more than
# ten remedies leave the colour-blind palette) still read apart.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def markers(order: list[str]) -> dict[str, str]:
    """One marker per remedy label, fixed by its place in the report's order."""
    return {label: MARKERS[index % len(MARKERS)] for index, label in enumerate(order)}


def _legend(figure: Figure, labels: list[str], colours: dict[str, tuple], title: str = "remedy",
            shapes: dict[str, str] | None = None) -> None:
    handles = [Line2D([], [], color=colours[label], marker=(shapes or {}).get(label, "o"), linewidth=2)
               for label in labels]
    figure.legend(handles, labels, title=title, loc="outside lower center", ncols=min(len(labels), 4),
                  frameon=False)


def _present(order: list[str], frame: pd.DataFrame) -> list[str]:
    have = set(frame["remedy_label"])
    return [label for label in order if label in have]


def _wrap(condition: str, width: int = 40) -> str:
    """A cell name over several lines: settings such as `model.nz=1, train.snapshot_every=50` are long."""
    return "\n".join(textwrap.wrap(condition, width, break_on_hyphens=False))


def _direction(metric_key: str) -> str:
    lower = METRIC[metric_key].lower_is_better
    return "lower is better" if lower else "higher = less collapse"


def _nats_from_zero(ax: Axes, axis: str, span: float = NATS_SPAN) -> None:
    """Show 0 and at least `span` nats on a KL or MI axis.

    A collapsed run's KL of 1e-7 nats would otherwise fill the panel with
    noise at an offset scale, and read as a large effect.
    """
    get, set_ = (ax.get_xlim, ax.set_xlim) if axis == "x" else (ax.get_ylim, ax.set_ylim)
    low, high = get()
    set_(min(low, -span / 20), max(high, span))


def metric_range(key: str, nz: int | None) -> tuple[float, float]:
    """What a metric can be: a KL is never negative, AU counts 0 to nz units.

    MI is left open: its estimate can fall below 0 by noise, and is shown as
    estimated (with `MI_BELOW_ZERO` in the figure's title) rather than clipped.
    """
    if key == "kl":
        return 0.0, np.inf
    if key == "au":
        return 0.0, float(nz) if nz else np.inf
    return -np.inf, np.inf


def metric_axis_label(key: str, label: str, frame: pd.DataFrame) -> str:
    """`label`, except for AU: a count of latent units, so out of the runs' nz."""
    if key != "au":
        return label
    nz = latent_size(frame)
    return f"active units (of {nz})" if nz else "active units"


def _titled(figure: Figure, title: str, mi: pd.Series) -> None:
    """The figure's title, with `MI_BELOW_ZERO` under it when an MI estimate it draws is below 0."""
    figure.suptitle(f"{title}\n{MI_BELOW_ZERO}" if bool((mi < 0).any()) else title)


def _metric_limits(ax: Axes, axis: str, key: str, nz: int | None) -> None:
    """AU from 0 to nz in whole units (room for markers at both ends); KL and MI from 0 nats."""
    if key == "au":
        get, set_ = (ax.get_xlim, ax.set_xlim) if axis == "x" else (ax.get_ylim, ax.set_ylim)
        top = float(nz) if nz else max(1.0, get()[1])
        set_(-0.04 * top, 1.04 * top)
        (ax.xaxis if axis == "x" else ax.yaxis).get_major_locator().set_params(integer=True)
    elif key in ("kl", "mi"):
        _nats_from_zero(ax, axis)


# ---------------------------------------------------------------- metric bars


def metric_bars(runs: pd.DataFrame, summary: pd.DataFrame, order: list[str],
                colours: dict[str, tuple]) -> FigureFile:
    """One row of panels per cell (dataset and setting), one panel per metric, one bar per remedy.

    Bars are horizontal so remedy labels read without rotation. NLL is drawn
    as a dot with its interval instead of a bar: a bar from 0 would hide
    differences of tenths of a nat on a value of 60.
    """
    conditions = sorted(summary["condition"].unique())
    heights = [0.45 * len(_present(order, summary[summary["condition"] == c])) + 1.6 for c in conditions]
    with _style():
        figure = Figure(figsize=(3.4 * len(BAR_METRICS) + 1.6, sum(heights) + 0.6), layout="constrained")
        rows = figure.subfigures(len(conditions), 1, height_ratios=heights, squeeze=False)[:, 0]
        for subfigure, condition in zip(rows, conditions, strict=True):
            cell = summary[summary["condition"] == condition]
            cell_runs = runs[(runs["condition"] == condition) & (runs["status"] == FINISHED)]
            labels = _present(order, cell)
            axes = subfigure.subplots(1, len(BAR_METRICS), sharey=True)
            for ax, key in zip(axes, BAR_METRICS, strict=True):
                _bar_panel(ax, cell[cell["metric"] == key].set_index("remedy_label"), cell_runs, key, labels,
                           colours)
                ax.set_title(f"{METRIC[key].title(iw_k(cell_runs))}\n({_direction(key)})", fontsize="medium")
            ticks = []
            for label in labels:
                counts = cell[(cell["remedy_label"] == label) & (cell["metric"] == "nll_iw")].iloc[0]
                failed = f", {int(counts['failed'])} failed" if counts["failed"] else ""
                ticks.append(f"{label}\n(n={int(counts['n'])}{failed})")
            axes[0].set_yticks(np.arange(len(labels)), ticks)
            axes[0].invert_yaxis()
            subfigure.suptitle(_wrap(condition, 90), fontweight="bold", fontsize="large")
        _titled(figure, "Final test metrics per remedy: mean with 95% t-interval over seeds; "
                "black dots: single runs", runs.loc[runs["status"] == FINISHED, "mi"])
    return FigureFile(
        "metric_bars.png", "Test metrics per remedy",
        "Mean over seeds with 95% t-interval (bars; NLL as a dot) and each finished run (black dots); "
        "n counts finished seeds, failed runs are named apart and excluded.",
        figure,
    )


def _bar_panel(ax: Axes, cell: pd.DataFrame, cell_runs: pd.DataFrame, key: str, labels: list[str],
               colours: dict[str, tuple]) -> None:
    metric = METRIC[key]
    nz = latent_size(cell_runs)
    y = np.arange(len(labels))
    means = cell.loc[labels, "mean"].to_numpy(dtype=float)
    bounds = cell.loc[labels, ["ci_low", "ci_high"]].to_numpy(dtype=float).T
    low, high = np.clip(bounds, *metric_range(key, nz))
    errors = np.vstack([means - low, high - means])
    colour_list = [colours[label] for label in labels]
    if metric.zero_based:
        ax.barh(y, np.nan_to_num(means), color=colour_list, alpha=0.75, height=0.7)
        ax.errorbar(means, y, xerr=errors, fmt="none", ecolor="black", capsize=4, linewidth=1.2)
    else:
        for position, mean, low, high, colour in zip(y, means, *errors, colour_list, strict=True):
            ax.errorbar(mean, position, xerr=[[low], [high]], fmt="o", color=colour, markersize=8,
                        capsize=5, linewidth=2)
    for position, label in zip(y, labels, strict=True):
        values = cell_runs.loc[cell_runs["remedy_label"] == label, key].dropna().to_numpy(dtype=float)
        if not len(values):
            ax.text(0.03, position, "no finished run", transform=ax.get_yaxis_transform(), va="center",
                    color="grey", fontsize="small")
        offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(len(values))
        ax.scatter(values, position + offsets, color="black", s=12, zorder=3)
    ax.set_xlabel(metric_axis_label(key, metric.unit, cell_runs))
    ax.grid(axis="y", visible=False)
    _metric_limits(ax, "x", key, nz)


# ------------------------------------------------------------ training curves


def _smoothing_window(curves: pd.DataFrame) -> int:
    steps = curves.groupby("run_id")["step"].max().max()
    return max(1, int(steps + 1) // SMOOTH_POINTS)


def _curve_panel(ax: Axes, cell: pd.DataFrame, column: str, labels: list[str], colours: dict[str, tuple],
                 window: int = 1, stepped: bool = False) -> None:
    """Mean over seeds per step, with the 95% t-band; each run smoothed first when window > 1.

    `stepped`: a quantity that several remedies share exactly (a KL schedule,
    a count of units). Earlier remedies are drawn thicker, so coinciding lines
    show as nested stripes instead of hiding each other, and the y axis starts
    at 0 and reaches at least 1, so a constant 1 does not fill the panel.
    Bands stop where the metric must (KL at 0, AU at 0 and nz).
    """
    nz = latent_size(cell)
    widths = np.linspace(5.0, 1.4, len(labels)) if stepped and len(labels) > 1 else np.full(len(labels), 1.4)
    for label, width in zip(labels, widths, strict=True):
        runs = cell[(cell["remedy_label"] == label) & cell[column].notna()]
        if runs.empty:
            continue
        wide = runs.drop_duplicates(["run_id", "step"], keep="last").pivot(
            index="step", columns="run_id", values=column)
        if window > 1:
            wide = wide.rolling(window, min_periods=1).mean()
        n = wide.count(axis=1).to_numpy()
        mean = wide.mean(axis=1).to_numpy()
        half = t_half_width(wide.std(axis=1, ddof=1).to_numpy(), n)
        steps = wide.index.to_numpy()
        ax.plot(steps, mean, color=colours[label], linewidth=width)
        low, high = np.clip([mean - half, mean + half], *metric_range(column, nz))
        ax.fill_between(steps, low, high, color=colours[label], alpha=0.2, linewidth=0)
    if column in ("kl", "mi", "au"):
        _metric_limits(ax, "y", column, nz)
    elif stepped:
        ax.set_ylim(-0.05, max(1.05, ax.get_ylim()[1]))


def _seeds_note(cell: pd.DataFrame) -> str:
    counts = cell.groupby("remedy_label")["run_id"].nunique()
    low, high = int(counts.min()), int(counts.max())
    seeds = f"{low}" if low == high else f"{low}-{high}"
    return f"n = {seeds} seed{'s' if high > 1 else ''} per line"


def _curve_figure(curves: pd.DataFrame, order: list[str], colours: dict[str, tuple],
                  rows: list[tuple[str, str, int, bool]], suptitle: str) -> Figure:
    """Columns = cells; rows = (column, y label, smoothing window, stepped); a shared x axis per column."""
    conditions = sorted(curves["condition"].unique())
    figure = Figure(figsize=(max(MIN_WIDTH, 4.6 * len(conditions)), 2.8 * len(rows) + 1.0),
                    layout="constrained")
    axes = figure.subplots(len(rows), len(conditions), squeeze=False, sharex="col")
    present: list[str] = []
    for col, condition in enumerate(conditions):
        cell = curves[curves["condition"] == condition]
        labels = _present(order, cell)
        present += [label for label in labels if label not in present]
        for row, (column, ylabel, window, stepped) in enumerate(rows):
            _curve_panel(axes[row, col], cell, column, labels, colours, window, stepped)
            axes[row, col].set_ylabel(metric_axis_label(column, ylabel, cell))
        axes[0, col].set_title(f"{_wrap(condition)}\n{_seeds_note(cell)}", fontsize="medium")
        axes[-1, col].set_xlabel("training step")
    _legend(figure, [label for label in order if label in present], colours)
    drawn = [column for column, *_ in rows]
    _titled(figure, suptitle, curves["mi"] if "mi" in drawn else pd.Series(dtype=float))
    return figure


def kl_curves(curves: pd.DataFrame, order: list[str], colours: dict[str, tuple]) -> FigureFile | None:
    """Bowman et al.'s figure: the KL term of the training loss and the KL weight, per remedy."""
    if curves.empty or curves["kl"].isna().all():
        return None
    window = _smoothing_window(curves)
    smoothed = f"KL term [nats]\n(rolling mean, {window} steps)" if window > 1 else "KL term [nats]"
    with _style():
        figure = _curve_figure(
            curves, order, colours,
            [("kl", smoothed, window, False), ("kl_weight", "KL weight β", 1, True)],
            "KL term and KL weight over training (Bowman et al. 2016)",
        )
    caption = (
        "Top: per-sentence KL(q(z|x) || p(z)) on the training batches, mean over seeds with 95% t-band"
        + (f", each run first smoothed by a rolling mean over {window} steps" if window > 1 else "")
        + "; bottom: the KL weight the remedy applied (1 = the true ELBO; remedies sharing a schedule "
        "overlap as nested stripes)."
    )
    return FigureFile("kl_curve.png", "KL term and KL weight over training (Bowman's figure)", caption,
                      figure)


def mi_au_curves(curves: pd.DataFrame, order: list[str], colours: dict[str, tuple]) -> FigureFile | None:
    """Mutual information and active units on the fixed validation batch over training."""
    if curves.empty or "mi" not in curves or curves["mi"].isna().all():
        return None
    with _style():
        figure = _curve_figure(
            curves, order, colours,
            [("mi", "MI I_q(x; z) [nats]", 1, False), ("au", "active units", 1, True)],
            "MI and AU over training (fixed validation batch)",
        )
    return FigureFile(
        "mi_au_curve.png", "MI and AU over training",
        "MI and AU measured every few steps on a fixed batch of validation sentences; mean over seeds "
        "with 95% t-band. Both stay at 0 when the posterior has collapsed; AU lines that coincide "
        "show as nested stripes.",
        figure,
    )


# ---------------------------------------------------------------- trade-off


def tradeoff(runs: pd.DataFrame, order: list[str], colours: dict[str, tuple]) -> FigureFile | None:
    """IW NLL against MI, one point per finished run: what a remedy pays in NLL for information."""
    finished = runs[(runs["status"] == FINISHED) & runs["mi"].notna() & runs["nll_iw"].notna()]
    if finished.empty:
        return None
    conditions = sorted(finished["condition"].unique())
    with _style():
        figure = Figure(figsize=(max(MIN_WIDTH, 4.6 * len(conditions)), 4.4), layout="constrained")
        axes = figure.subplots(1, len(conditions), squeeze=False)[0]
        shapes = markers(order)
        for ax, condition in zip(axes, conditions, strict=True):
            cell = finished[finished["condition"] == condition]
            labels = _present(order, cell)
            sns.scatterplot(data=cell, x="mi", y="nll_iw", hue="remedy_label", hue_order=labels,
                            style="remedy_label", style_order=labels, markers=shapes,
                            palette=colours, s=70, ax=ax, legend=False)
            _nats_from_zero(ax, "x")
            ax.set_xlabel(METRIC["mi"].axis_label())
            ax.set_ylabel(METRIC["nll_iw"].axis_label(iw_k(cell)))
            ax.set_title(f"{_wrap(condition)}\n{len(cell)} run{'s' if len(cell) != 1 else ''}",
                         fontsize="medium")
        _legend(figure, _present(order, finished), colours, shapes=shapes)
        _titled(figure, "Trade-off: NLL against MI, one point per run", finished["mi"])
    return FigureFile(
        "tradeoff.png", "Trade-off: NLL against MI",
        "Each point is one finished run. Down is better NLL; right is more information in z "
        "(less collapse). A remedy worth having moves right without moving up.",
        figure,
    )


# ---------------------------------------------------------------- probe


def sentiment_probe(runs: pd.DataFrame, order: list[str], colours: dict[str, tuple]) -> FigureFile | None:
    """Probe accuracy per remedy, one panel per probed cell, against bag of words and chance.

    Accuracy is drawn on a vertical axis so the two references are
    horizontal lines across every remedy; labels break at `+` to stay
    upright.
    """
    if PROBE_METRIC.key not in runs:
        return None
    probed = runs[(runs["status"] == FINISHED) & runs[PROBE_METRIC.key].notna()]
    if probed.empty:
        return None
    conditions = sorted(probed["condition"].unique())
    widths = [1.1 * len(_present(order, probed[probed["condition"] == c])) + 1.4 for c in conditions]
    with _style():
        figure = Figure(figsize=(max(MIN_WIDTH, sum(widths) + 0.6), 5.2), layout="constrained")
        axes = figure.subplots(1, len(conditions), squeeze=False, sharey=True,
                               gridspec_kw={"width_ratios": widths})[0]
        for ax, condition in zip(axes, conditions, strict=True):
            _probe_panel(ax, probed[probed["condition"] == condition], order, colours)
        values = probed[[PROBE_METRIC.key, "probe_bow_acc", "probe_chance_acc"]].to_numpy(dtype=float)
        axes[0].set_ylim(max(0.0, float(np.nanmin(values)) - 0.05), 1.02)
        axes[0].set_ylabel("test accuracy (fraction of sentences\nwhose label is predicted right)")
        handles = [
            Line2D([], [], color="black", marker="o", linestyle="none", markersize=4, label="one run (seed)"),
            Line2D([], [], color="grey", marker="_", linestyle="none", markersize=22, markeredgewidth=3,
                   label="mean over seeds"),
            Line2D([], [], color="black", linestyle="--", label="bag-of-words logistic regression"),
            Line2D([], [], color="black", linestyle=":", label="chance (majority class)"),
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        figure.suptitle("What z knows: the label (sentiment) predicted from the posterior mean E_q[z|x]\n"
                        "by a logistic regression, against bag of words and chance")
    return FigureFile(
        "probe.png", "Sentiment probe: what z knows",
        "Each dot is one finished run: test accuracy of a logistic regression trained to predict the label "
        "(sentiment) from the posterior means of the run's training sentences; bar: mean over seeds. "
        "Dashed: the same classifier on bag-of-words features of the same sentences; dotted: always "
        "guessing the most frequent label. A z that says nothing about the label (a collapsed one) sits "
        "on the dotted line.",
        figure,
    )


def _probe_panel(ax: Axes, cell: pd.DataFrame, order: list[str], colours: dict[str, tuple]) -> None:
    """Runs as dots, the mean as a bar in the remedy's colour, the two references as lines."""
    labels = _present(order, cell)
    ticks = []
    for position, label in enumerate(labels):
        values = cell.loc[cell["remedy_label"] == label, PROBE_METRIC.key].to_numpy(dtype=float)
        offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(len(values))
        ax.scatter(position + offsets, values, color="black", s=14, zorder=3)
        ax.plot([position - 0.3, position + 0.3], [values.mean()] * 2, color=colours[label], linewidth=3,
                zorder=2)
        ticks.append(label.replace("+", "+\n") + f"\n(n={len(values)})")
    ax.axhline(cell["probe_bow_acc"].mean(), color="black", linestyle="--", linewidth=1.2)
    ax.axhline(cell["probe_chance_acc"].mean(), color="black", linestyle=":", linewidth=1.5)
    ax.set_xticks(np.arange(len(labels)), ticks, fontsize="small")
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.grid(axis="x", visible=False)
    sizes = cell[["probe_n_train", "probe_n_test"]].max()
    ax.set_title(f"{_wrap(cell['condition'].iloc[0])}\ntrained on {int(sizes['probe_n_train'])} sentences, "
                 f"tested on {int(sizes['probe_n_test'])}", fontsize="medium")


# ------------------------------------------------------- posterior-mean space


def pick_snapshots(snapshots: pd.DataFrame, count: int = SNAPSHOT_COLUMNS) -> list[int]:
    """Steps to show: early in epoch 0, its middle and end, and the last snapshot of the run.

    He et al. show the trajectory at the start (where vanilla training starts
    to drift to the origin) and at convergence; equally spaced steps would
    skip the start, where the snapshots are dense.
    """
    steps = sorted(snapshots["step"].unique())
    first_epoch = sorted(snapshots.loc[snapshots["epoch"] == snapshots["epoch"].min(), "step"].unique())
    wanted = [first_epoch[0], first_epoch[len(first_epoch) // 3], first_epoch[-1], steps[-1]]
    return list(dict.fromkeys(wanted))[:count]


def posterior_mean(snapshots: pd.DataFrame, order: list[str], colours: dict[str, tuple]) -> list[FigureFile]:
    """He et al.'s posterior-mean space, one figure per cell that recorded snapshots.

    Rows = remedies (the lowest seed of each), columns = snapshots. x: the
    encoder mean E_q[z|x]; y: the model posterior mean E_p[z|x] by grid
    quadrature. Shared axes, so a collapsed run reads as a dot at the origin.
    """
    if snapshots.empty:
        return []
    # The trainer can record the end of epoch 0 twice (a periodic and an epoch-end snapshot).
    snapshots = snapshots.drop_duplicates(["run_id", "step", "sentence"], keep="last")
    files = []
    per_dataset = snapshots.groupby("dataset")["condition"].nunique()
    for index, (condition, cell) in enumerate(snapshots.groupby("condition", sort=True), start=1):
        dataset = cell["dataset"].iloc[0]
        name = _slug(dataset) + (f"_{index}" if per_dataset[dataset] > 1 else "")
        labels = _present(order, cell)
        first_runs = cell.sort_values("seed").groupby("remedy_label", sort=False)["run_id"].first()
        chosen = {label: pick_snapshots(cell[cell["run_id"] == first_runs[label]]) for label in labels}
        columns = max(len(steps) for steps in chosen.values())
        limit = max(1.0, 1.1 * float(cell[["encoder_mean", "model_mean"]].abs().max().max()))
        with _style():
            figure = Figure(figsize=(max(MIN_WIDTH, 2.6 * columns + 0.8), 2.6 * len(labels) + 0.9),
                            layout="constrained")
            axes = figure.subplots(len(labels), columns, squeeze=False, sharex=True, sharey=True)
            for row, label in enumerate(labels):
                run = cell[cell["run_id"] == first_runs[label]]
                for col, ax in enumerate(axes[row]):
                    if col >= len(chosen[label]):
                        ax.set_visible(False)
                        continue
                    points = run[run["step"] == chosen[label][col]]
                    ax.plot([-limit, limit], [-limit, limit], color="grey", linestyle="--", linewidth=1)
                    ax.scatter(points["encoder_mean"], points["model_mean"], s=6, alpha=0.5,
                               color=colours[label], linewidths=0)
                    ax.set_title(f"step {chosen[label][col]} (epoch {int(points['epoch'].iloc[0])})",
                                 fontsize="medium")
                    ax.set_xlim(-limit, limit)
                    ax.set_ylim(-limit, limit)
                    ax.set_aspect("equal")
                axes[row, 0].set_ylabel(f"{label}\n\nmodel posterior mean\nE_p[z|x] (quadrature)")
            for ax in axes[-1]:
                ax.set_xlabel("encoder mean E_q[z|x]")
            sentences = int(cell.groupby(["run_id", "step"]).size().max())
            figure.suptitle(f"Posterior-mean space (He et al. 2019)\n{_wrap(condition, 70)}\n{sentences} "
                            "validation sentences; rows: remedies (lowest seed); columns: snapshots")
            files.append(FigureFile(
                f"posterior_mean_{name}.png", f"Posterior-mean space: {condition}",
                "Each dot is a validation sentence: the encoder's mean against the model's true posterior "
                "mean (grid quadrature over z); dashed: the diagonal, where inference keeps up with the "
                "model. Collapse pulls both to the origin; lagging inference leaves points off the "
                "diagonal.",
                figure,
            ))
    return files


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --------------------------------------------------------- sweeps

BASELINE = "none"  # the run without a remedy, drawn in every sweep of its row group


@dataclass(frozen=True)
class Sweep:
    """A quantity that the runs of a row group vary, drawn against KL and NLL.

    `baseline_at`: where the `none` run of the same row group sits on the x
    axis (word dropout's keep rate 1: the value the remedy declares neutral);
    None when it has no place there (an LSTM has no receptive field), and it
    is drawn as a reference level instead.
    """

    column: str  # column of the runs table holding the parameter
    axis: str
    heading: str  # the figure's name in report.md
    title: str
    file: str
    caption: str
    baseline_at: float | None
    baseline_name: str  # the `none` run in the legend


# The receptive field is a fact of the harness's CNN decoder (metrics.json "model"), whoever chose it.
RECEPTIVE_FIELD = Sweep(
    "receptive_field", "receptive field of the CNN decoder [tokens]",
    "CNN receptive field against KL and NLL",
    "CNN decoder: receptive field against KL and NLL", "receptive_field.png",
    "Line: mean over seeds per receptive field; dots: single runs; dashed line and grey band: the "
    "LSTM decoder (`none` of the same row group), mean and 95% t-interval. A smaller receptive "
    "field leaves more to z (more KL) at some cost in NLL (Yang et al. 2017).",
    None, "LSTM decoder (none): mean, grey band 95% CI",
)


def parameter_sweeps(runs: pd.DataFrame) -> list[Sweep]:
    """A sweep per numeric parameter of a one-part remedy (`param.<remedy>.<key>` columns of the runs);
    `sweep` draws it for the row groups where it takes 2 or more values."""
    columns = [c for c in sorted(runs.columns) if c.startswith(PARAM) and runs[c].notna().any()
               and all(_is_number(value) for value in runs[c].dropna())]
    return [_parameter_sweep(column, runs.attrs.get(NEUTRAL, {}).get(column)) for column in columns]


def _parameter_sweep(column: str, neutral: float | None) -> Sweep:
    """The sweep of one parameter; the `none` runs sit at `neutral`, or make a reference level."""
    remedy, key = column.removeprefix(PARAM).rsplit(".", 1)
    where = (f"square at {key} = {neutral}: the `none` run of the same row group" if neutral is not None
             else "dashed line and grey band: the `none` run of the same row group, mean and 95% t-interval")
    return Sweep(
        column, f"{remedy}: {key}", f"{remedy}: {key} against KL and NLL",
        f"{remedy}: {key} against KL and NLL",
        f"{_slug(f'{remedy} {key}')}.png", f"Line: mean over seeds per value of `{key}`; dots: single runs; "
        f"{where}.", None if neutral is None else float(neutral),
        f"{key} = {neutral}: none, mean" if neutral is not None else "none: mean, grey band 95% CI",
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _sweep_points(cell: pd.DataFrame, spec: Sweep) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The swept runs of one row group, and its `none` runs (placed at `baseline_at` if any)."""
    swept = cell[cell[spec.column].notna()]
    base = cell[cell["remedy"] == BASELINE]
    if spec.baseline_at is not None:
        base = base.assign(**{spec.column: spec.baseline_at})
    return swept, base


def _swept_values(cell: pd.DataFrame, spec: Sweep) -> int:
    """How many points the sweep of this row group has on its x axis (the baseline's included)."""
    swept, base = _sweep_points(cell, spec)
    values = set(swept[spec.column])
    if spec.baseline_at is not None and not base.empty:
        values.add(spec.baseline_at)
    return len(values)


def sweep(runs: pd.DataFrame, spec: Sweep) -> FigureFile | None:
    """KL and NLL against a swept remedy parameter, one row per row group with 2 or more points.

    Runs are pooled only within a row group (condition), as in the tables:
    the same keep rate under two optimisers is two experiments, not more seeds.
    """
    finished = runs[runs["status"] == FINISHED]
    conditions = [condition for condition, cell in finished.groupby("condition", sort=True)
                  if _swept_values(cell, spec) >= 2]
    if not conditions:
        return None
    colour, base_colour = sns.color_palette("colorblind", 2)
    with _style():
        figure = Figure(figsize=(9.0, 3.6 * len(conditions) + 1.0), layout="constrained")
        axes = figure.subplots(len(conditions), 2, squeeze=False)
        for row, condition in enumerate(conditions):
            cell = finished[finished["condition"] == condition]
            for ax, key in zip(axes[row], ("kl", "nll_iw"), strict=True):
                _sweep_panel(ax, cell, spec, key, colour, base_colour)
                ax.set_title(f"{_wrap(condition, 42)}\n{METRIC[key].title(iw_k(cell))} ({_direction(key)})",
                             fontsize="medium")
        figure.legend(handles=_sweep_handles(spec, colour, base_colour), loc="outside lower center",
                      ncols=3, frameon=False)
        figure.suptitle(spec.title)
    return FigureFile(spec.file, spec.heading, spec.caption, figure)


def _sweep_panel(ax: Axes, cell: pd.DataFrame, spec: Sweep, key: str, colour: tuple,
                 base_colour: tuple) -> None:
    """Mean line and single runs of one metric; the `none` runs on the axis or as a reference band."""
    swept, base = _sweep_points(cell, spec)
    on_axis = spec.baseline_at is not None
    points = pd.concat([swept, base]) if on_axis else swept
    means = points.groupby(spec.column)[key].mean()
    ax.plot(means.index, means.to_numpy(), color=colour, marker="o", linewidth=1.5)
    ax.scatter(points[spec.column], points[key], color="black", s=12, zorder=3)
    if not base.empty and on_axis:
        ax.plot([spec.baseline_at], [base[key].mean()], color=base_colour, marker="s", markersize=9,
                linestyle="none", zorder=4)
    elif not base.empty:
        interval = mean_ci(base[key].astype(float))
        ax.axhline(interval.mean, color=base_colour, linestyle="--", linewidth=1.5)
        if interval.n >= 2:
            ax.axhspan(*np.clip([interval.low, interval.high], *metric_range(key, None)), color="grey",
                       alpha=0.2, linewidth=0)
    if key == "kl":
        _nats_from_zero(ax, "y")
    ax.set_xlabel(spec.axis)
    ax.set_ylabel(METRIC[key].axis_label(iw_k(cell)))


def _sweep_handles(spec: Sweep, colour: tuple, base_colour: tuple) -> list[Line2D]:
    """Legend entries: the mean line, a single run, and the `none` run of the row group."""
    base = (Line2D([], [], color=base_colour, marker="s", linestyle="none", markersize=9)
            if spec.baseline_at is not None else Line2D([], [], color=base_colour, linestyle="--"))
    base.set_label(spec.baseline_name)
    return [
        Line2D([], [], color=colour, marker="o", linewidth=1.5, label="mean over seeds"),
        Line2D([], [], color="black", marker="o", linestyle="none", markersize=4, label="one run (seed)"),
        base,
    ]


def all_figures(runs: pd.DataFrame, summary: pd.DataFrame, curves: pd.DataFrame, snapshots: pd.DataFrame,
                order: list[str]) -> list[FigureFile]:
    """Every figure the store has data for, in report order."""
    colours = palette(order)
    figures: list[FigureFile | None] = [
        metric_bars(runs, summary, order, colours),
        kl_curves(curves, order, colours),
        mi_au_curves(curves, order, colours),
        tradeoff(runs, order, colours),
        sentiment_probe(runs, order, colours),
        *posterior_mean(snapshots, order, colours),
        *(sweep(runs, spec) for spec in (RECEPTIVE_FIELD, *parameter_sweeps(runs))),
    ]
    return [figure for figure in figures if figure is not None]
