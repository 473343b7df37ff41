"""Sweeps: KL and NLL against a quantity the runs of a row group vary (a remedy's parameter, the CNN
decoder's receptive field), one dot per run, the mean over seeds as a line.

Runs are grey where they collapsed. The `none` runs of the row group sit on
the x axis where the remedy declares a neutral value (word dropout's keep
rate 1), else each is a dotted reference level, with their mean dashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.report.figures_common import FigureFile, direction, nats_from_zero, slug, style, wrap
from bench.report.figures_styles import COLLAPSED, GREY, collapsed
from bench.report.runs_frame import FINISHED, NEUTRAL, PARAM
from bench.report.summaries import METRIC, iw_k

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
    "Line: mean over seeds per receptive field; dots: single runs, grey where the run is a "
    f"{COLLAPSED}; dashed line: the LSTM decoder (`none` of the same row group), mean over seeds, each "
    "of its runs a dotted line. A smaller receptive field leaves more to z (more KL) at some cost in "
    "NLL (Yang et al. 2017).",
    None, "LSTM decoder (none): mean; dotted: each run",
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
             else "dashed line: the `none` runs of the same row group, their mean; dotted: each of them")
    return Sweep(
        column, f"{remedy}: {key}", f"{remedy}: {key} against KL and NLL",
        f"{remedy}: {key} against KL and NLL",
        f"{slug(f'{remedy} {key}')}.png", f"Line: mean over seeds per value of `{key}`; dots: single runs, "
        f"grey where the run is a {COLLAPSED}; {where}.", None if neutral is None else float(neutral),
        f"{key} = {neutral}: none, mean" if neutral is not None else "none: mean; dotted: each run",
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
    with style():
        figure = Figure(figsize=(9.0, 3.6 * len(conditions) + 1.4), layout="constrained")
        axes = figure.subplots(len(conditions), 2, squeeze=False)
        for row, condition in enumerate(conditions):
            cell = finished[finished["condition"] == condition]
            for ax, key in zip(axes[row], ("kl", "nll_iw"), strict=True):
                _sweep_panel(ax, cell, spec, key, colour, base_colour)
                ax.set_title(f"{wrap(condition, 42)}\n{METRIC[key].title(iw_k(cell))} ({direction(key)})",
                             fontsize="medium")
        grey = bool(collapsed(finished[finished["condition"].isin(conditions)]).any())
        figure.legend(handles=_sweep_handles(spec, colour, base_colour, grey), loc="outside lower center",
                      ncols=2, frameon=False)
        figure.suptitle(spec.title)
    return FigureFile(spec.file, spec.heading, spec.caption, figure)


def _sweep_panel(ax: Axes, cell: pd.DataFrame, spec: Sweep, key: str, colour: Any, base_colour: Any) -> None:
    """Mean line and single runs of one metric; the `none` runs on the axis or as reference levels."""
    swept, base = _sweep_points(cell, spec)
    on_axis = spec.baseline_at is not None
    points = pd.concat([swept, base]) if on_axis else swept
    means = points.groupby(spec.column)[key].mean()
    ax.plot(means.index, means.to_numpy(), color=colour, marker="o", linewidth=1.5)
    ax.scatter(points[spec.column], points[key], s=12, zorder=3,
               c=[GREY if down else "black" for down in collapsed(points)])
    if not base.empty and on_axis:
        ax.plot([spec.baseline_at], [base[key].mean()], color=base_colour, marker="s", markersize=9,
                linestyle="none", zorder=4)
    elif not base.empty:
        ax.axhline(base[key].mean(), color=base_colour, linestyle="--", linewidth=1.5)
        for value, down in zip(base[key], collapsed(base), strict=True):
            ax.axhline(value, color=GREY if down else base_colour, linestyle=":", linewidth=0.9)
    if key == "kl":
        nats_from_zero(ax, "y")
    ax.set_xlabel(spec.axis)
    ax.set_ylabel(METRIC[key].axis_label(iw_k(cell)))


def _sweep_handles(spec: Sweep, colour: Any, base_colour: Any, grey: bool) -> list[Line2D]:
    """Legend entries: the mean line, a single run, the `none` run of the row group, and collapsed runs."""
    base = (Line2D([], [], color=base_colour, marker="s", linestyle="none", markersize=9)
            if spec.baseline_at is not None else Line2D([], [], color=base_colour, linestyle="--"))
    base.set_label(spec.baseline_name)
    return [
        Line2D([], [], color=colour, marker="o", linewidth=1.5, label="mean over seeds"),
        Line2D([], [], color="black", marker="o", linestyle="none", markersize=4, label="one run (seed)"),
        base,
        *([Line2D([], [], color=GREY, marker="o", linestyle="none", markersize=4, label=COLLAPSED)]
          if grey else []),
    ]
