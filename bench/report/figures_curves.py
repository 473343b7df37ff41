"""Training curves, one thin line per seed: the KL term and KL weight (Bowman et al. 2016), MI and AU.

A mean with a t-band over 3 seeds hides seeds that split (one escapes, two
collapse) and, with t = 4.3, reaches below 0; single lines show the split,
and runs that collapsed are grey.

The x axis counts what the curve rows allow. With the trainer's gradient
count in each row (`gradient_steps`: every update, aggressive training's
inner encoder steps and pretrain-fb's autoencoder epochs included) remedies
are compared at equal cost; without it, the axis is the outer training step
and its label names what that leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.report.figures_common import (
    MIN_WIDTH,
    FigureFile,
    metric_axis_label,
    metric_limits,
    present,
    style,
    titled,
    wrap,
)
from bench.report.figures_styles import COLLAPSED, Styles, collapsed, remedy_legend, run_colour
from bench.report.summaries import latent_size

SMOOTH_POINTS = 100  # the per-step KL is smoothed to about this many windows over a run
GRADIENT_STEPS = "gradient_steps"
# What the outer step leaves out, by a remedy (part of a spec) that trains more than once a step.
UNCOUNTED = {"aggressive": "aggressive's inner encoder steps",
             "pretrain-fb": "pretrain-fb's autoencoder epochs before step 0"}


@dataclass(frozen=True)
class TrainingAxis:
    """The curves' x axis: a column of the curve rows, its label, and what the caption says of it."""

    column: str
    label: str
    note: str  # for the caption
    subtitle: str = ""  # what the axis leaves out, under the figure's title


@dataclass(frozen=True)
class Row:
    """One row of panels: a curve column, its y label, the smoothing window, and whether it is a
    remedy's schedule (one line per remedy, not per seed: every seed follows it)."""

    column: str
    ylabel: str
    window: int = 1
    schedule: bool = False


def training_axis(curves: pd.DataFrame) -> TrainingAxis:
    """Gradient evaluations where every curve row counts them, else the outer step, honestly labelled."""
    if GRADIENT_STEPS in curves and curves[GRADIENT_STEPS].notna().all():
        return TrainingAxis(GRADIENT_STEPS, "gradient evaluations (every update of the model)",
                            "The x axis counts gradient evaluations: every update, aggressive training's "
                            "inner encoder steps and pretrain-fb's autoencoder epochs included.")
    specs = curves["remedy"].drop_duplicates()
    missed = [what for name, what in UNCOUNTED.items() if specs.str.contains(name, regex=False).any()]
    if not missed:
        return TrainingAxis("step", "training step (one update each)", "")
    left_out = " and ".join(missed)
    return TrainingAxis("step", "outer training step",
                        f"The x axis counts outer training steps only ({left_out} are not on it): the curve "
                        "rows of these runs record no count of gradient evaluations.",
                        f"x axis: outer training steps; not counted: {left_out}")


def _smoothing_window(curves: pd.DataFrame) -> int:
    steps = curves.groupby("run_id")["step"].max().max()
    return max(1, int(steps + 1) // SMOOTH_POINTS)


def _per_run(ax: Axes, cell: pd.DataFrame, row: Row, labels: list[str], styles: Styles,
             x: str) -> None:
    """Each run's line, smoothed over `row.window` steps; grey (and under the others) where it collapsed."""
    for label in labels:
        runs = cell[(cell["remedy_label"] == label) & cell[row.column].notna()]
        for _, run in runs.groupby("run_id", sort=True):
            run = run.drop_duplicates("step", keep="last").sort_values("step")
            values = run[row.column].rolling(row.window, min_periods=1).mean()
            down = bool(collapsed(run)[0])
            ax.plot(run[x], values, color=run_colour(styles[label], down), linestyle=styles[label].linestyle,
                    linewidth=1.0, alpha=0.9, zorder=1 if down else 2)


def _schedule(ax: Axes, cell: pd.DataFrame, row: Row, labels: list[str], styles: Styles,
              x: str) -> None:
    """One line per remedy (its lowest seed) whose value ever leaves 1; a thin black line at 1 for the
    rest. Earlier remedies are thicker, so shared schedules show as nested stripes."""
    lines = {}
    for label in labels:
        runs = cell[(cell["remedy_label"] == label) & cell[row.column].notna()]
        if runs.empty:
            continue
        run = runs[runs["run_id"] == runs.sort_values(["seed", "run_id"])["run_id"].iloc[0]]
        run = run.drop_duplicates("step", keep="last").sort_values("step")
        if not run[row.column].eq(1.0).all():
            lines[label] = run
    ax.axhline(1.0, color="black", linewidth=0.8, zorder=1)
    widths = np.linspace(5.0, 1.4, len(lines)) if len(lines) > 1 else np.full(len(lines), 1.4)
    for (label, run), width in zip(lines.items(), widths, strict=True):
        ax.plot(run[x], run[row.column], color=styles[label].colour, linestyle=styles[label].linestyle,
                linewidth=width)
    ax.set_ylim(-0.05, max(1.05, ax.get_ylim()[1]))


def _seeds_note(cell: pd.DataFrame) -> str:
    counts = cell.groupby("remedy_label")["run_id"].nunique()
    low, high = int(counts.min()), int(counts.max())
    seeds = f"{low}" if low == high else f"{low}-{high}"
    return f"{seeds} seed{'s' if high > 1 else ''} per remedy, one line each"


def _curve_figure(curves: pd.DataFrame, order: list[str], styles: Styles, rows: list[Row],
                  suptitle: str, axis: TrainingAxis) -> Figure:
    """Columns = cells; a row of panels per `Row`; a shared x axis per column."""
    conditions = sorted(curves["condition"].unique())
    figure = Figure(figsize=(max(MIN_WIDTH, 4.6 * len(conditions)), 2.8 * len(rows) + 2.4),
                    layout="constrained")
    axes = figure.subplots(len(rows), len(conditions), squeeze=False, sharex="col")
    for col, condition in enumerate(conditions):
        cell = curves[curves["condition"] == condition]
        labels = present(order, cell)
        for index, row in enumerate(rows):
            ax = axes[index, col]
            (_schedule if row.schedule else _per_run)(ax, cell, row, labels, styles, axis.column)
            if row.column in ("kl", "mi", "au"):
                metric_limits(ax, "y", row.column, latent_size(cell))
            ax.set_ylabel(metric_axis_label(row.column, row.ylabel, cell))
        axes[0, col].set_title(f"{wrap(condition)}\n{_seeds_note(cell)}", fontsize="medium")
        axes[-1, col].set_xlabel(axis.label)
    per_run = [row.column for row in rows if not row.schedule]
    drawn = curves[curves[per_run].notna().any(axis=1)]
    remedy_legend(figure, present(order, curves), styles, grey=bool(collapsed(drawn).any()))
    subtitle = wrap(axis.subtitle, int(figure.get_figwidth() * 11)) if axis.subtitle else ""
    titled(figure, "\n".join(filter(None, [suptitle, subtitle])),
           drawn["mi"] if "mi" in per_run else pd.Series(dtype=float))
    return figure


def kl_curves(curves: pd.DataFrame, order: list[str], styles: Styles) -> FigureFile | None:
    """Bowman et al.'s figure: the KL term of the training loss and the KL weight, per remedy."""
    if curves.empty or curves["kl"].isna().all():
        return None
    window = _smoothing_window(curves)
    axis = training_axis(curves)
    smoothed = f"KL term [nats]\n(rolling mean, {window} steps)" if window > 1 else "KL term [nats]"
    with style():
        figure = _curve_figure(curves, order, styles,
                               [Row("kl", smoothed, window), Row("kl_weight", "KL weight β", schedule=True)],
                               "KL term and KL weight over training (Bowman et al. 2016)", axis)
    caption = (
        "Top: per-sentence KL(q(z|x) || p(z)) on the training batches, one thin line per seed"
        + (f", each smoothed by a rolling mean over {window} steps" if window > 1 else "")
        + f"; grey: {COLLAPSED}. Bottom: the KL weight the remedy applied, one line per remedy whose weight "
        "ever leaves 1 (thin black: weight 1, the true ELBO, which the other remedies keep throughout); "
        "remedies sharing a schedule overlap as nested stripes. " + axis.note
    )
    return FigureFile("kl_curve.png", "KL term and KL weight over training (Bowman's figure)",
                      caption.strip(), figure)


def mi_au_curves(curves: pd.DataFrame, order: list[str], styles: Styles) -> FigureFile | None:
    """Mutual information and active units on the fixed validation batch over training."""
    if curves.empty or "mi" not in curves or curves["mi"].isna().all():
        return None
    axis = training_axis(curves)
    with style():
        figure = _curve_figure(curves, order, styles,
                               [Row("mi", "MI I_q(x; z) [nats]"), Row("au", "active units")],
                               "MI and AU over training (fixed validation batch)", axis)
    caption = ("MI and AU measured every few steps on a fixed batch of validation sentences, one thin line "
               f"per seed; grey: {COLLAPSED}. Both stay at 0 when the posterior has collapsed. " + axis.note)
    return FigureFile("mi_au_curve.png", "MI and AU over training", caption.strip(), figure)
