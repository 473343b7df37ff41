"""The final test metrics per remedy: one dot per seed, never an interval.

At 3 seeds a 95% t-interval is the mean ± 4.3 standard errors: it crosses 0
for KL and MI and hides the common case of seeds that split (two collapse,
one does not). Each seed's dot shows that split; a tick marks the mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.report.figures_common import (
    FigureFile,
    direction,
    jitter,
    metric_axis_label,
    metric_limits,
    present,
    style,
    titled,
    wrap,
)
from bench.report.figures_styles import COLLAPSED, Styles, collapsed, draw_runs, remedy_legend
from bench.report.runs_frame import FINISHED
from bench.report.summaries import METRIC, iw_k, latent_size

BAR_METRICS = ("nll_iw", "kl", "mi", "au")


def metric_bars(runs: pd.DataFrame, summary: pd.DataFrame, order: list[str],
                styles: Styles) -> FigureFile:
    """One row of panels per cell (dataset and setting), one panel per metric, one line of dots per remedy.

    Remedies run down the y axis so their labels read without rotation.
    """
    conditions = sorted(summary["condition"].unique())
    heights = [0.45 * len(present(order, summary[summary["condition"] == c])) + 1.6 for c in conditions]
    finished = runs[runs["status"] == FINISHED]
    with style():
        figure = Figure(figsize=(3.4 * len(BAR_METRICS) + 1.6, sum(heights) + 1.6), layout="constrained")
        rows = figure.subfigures(len(conditions), 1, height_ratios=heights, squeeze=False)[:, 0]
        for subfigure, condition in zip(rows, conditions, strict=True):
            cell = summary[summary["condition"] == condition]
            cell_runs = finished[finished["condition"] == condition]
            labels = present(order, cell)
            axes = subfigure.subplots(1, len(BAR_METRICS), sharey=True)
            for ax, key in zip(axes, BAR_METRICS, strict=True):
                _dot_panel(ax, cell_runs, key, labels, styles)
                ax.set_title(f"{METRIC[key].title(iw_k(cell_runs))}\n({direction(key)})", fontsize="medium")
            ticks = []
            for label in labels:
                counts = cell[(cell["remedy_label"] == label) & (cell["metric"] == "nll_iw")].iloc[0]
                failed = f", {int(counts['failed'])} failed" if counts["failed"] else ""
                ticks.append(f"{label}\n(n={int(counts['n'])}{failed})")
            axes[0].set_yticks(np.arange(len(labels)), ticks)
            subfigure.suptitle(wrap(condition, 90), fontweight="bold", fontsize="large")
        remedy_legend(figure, present(order, finished), styles, line=False,
                      grey=bool(collapsed(finished).any()))
        titled(figure, "Final test metrics per remedy: one dot per seed, tick = mean over seeds",
               finished["mi"])
    return FigureFile(
        "metric_bars.png", "Test metrics per remedy",
        "Each dot is one finished run (seed) on the test split; the vertical tick is the mean over seeds. "
        f"Grey dots: {COLLAPSED}. No confidence intervals are drawn: at 3 seeds a t-interval spans about "
        "±4 standard errors and hides seeds that split; the tables give them. n counts finished seeds; "
        "failed runs are named apart and excluded.",
        figure,
    )


def _dot_panel(ax: Axes, cell_runs: pd.DataFrame, key: str, labels: list[str],
               styles: Styles) -> None:
    """Each remedy's runs as dots on its row, the mean over them as a tick in the remedy's colour."""
    for position, label in enumerate(labels):
        runs = cell_runs[(cell_runs["remedy_label"] == label) & cell_runs[key].notna()]
        values = runs[key].to_numpy(dtype=float)
        if not len(values):
            ax.text(0.03, position, "no finished run", transform=ax.get_yaxis_transform(), va="center",
                    color="grey", fontsize="small")
            continue
        draw_runs(ax, values, position + jitter(len(values)), collapsed(runs), styles[label])
        ax.plot([values.mean()], [position], marker="|", markersize=22, markeredgewidth=2.5,
                color=styles[label].colour, linestyle="none", zorder=2)
    ax.set_xlabel(metric_axis_label(key, METRIC[key].unit, cell_runs))
    ax.grid(axis="y", visible=False)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    metric_limits(ax, "x", key, latent_size(cell_runs))
