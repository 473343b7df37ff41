"""How each remedy looks in every figure: a label that keeps its deciding parameters, a colour, a marker
and a line style; and grey for a run that collapsed.

Ten to fifteen remedies cannot each get a hue that reads apart, so there are
at most `len(HUES)` = 8 (seaborn's colour-blind palette without its grey and
yellow), and remedies are told apart by *family* as well: each family
(schedules of the KL weight, encoder training, changes to the KL term,
weaker decoders, baselines and controls) has its own marker and line style,
and no two remedies of one family share a hue. Grey is kept for runs whose
`escaped` is False (the escape rule of `bench.report.escape`), whatever
their remedy, wherever runs are drawn one by one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.report.specs import spec_parts
from bench.report.verdicts import autoencoder_control

Colour = tuple[float, float, float]
# Ordered so that close hues (orange and vermillion, the two blues) come far apart.
HUES: tuple[Colour, ...] = tuple(sns.color_palette("colorblind")[i] for i in (0, 1, 2, 4, 3, 9, 5, 6))
GREY: Colour = (0.62, 0.62, 0.62)
LEGEND_COLUMN_INCHES = 2.6  # about the width of one legend column at the legend's font size
COLLAPSED = "collapsed run (escape rule: test MI at or below the null, or AU = 0)"


@dataclass(frozen=True)
class Family:
    """Remedies that act the same way: one marker and one line style for all of them."""

    name: str
    marker: str
    linestyle: Any  # a matplotlib line style: "-", "--", or (offset, dashes)


CONTROLS = Family("baselines and controls", "o", "-")
SCHEDULES = Family("KL-weight schedules", "s", "--")
ENCODER = Family("encoder training", "^", "-.")
KL_TERM = Family("KL-term changes", "D", (0, (5, 1.5, 1, 1.5, 1, 1.5)))
DECODER = Family("weaker decoders", "v", ":")
OTHER = Family("other remedies", "P", (0, (3, 1)))
FAMILIES = (CONTROLS, SCHEDULES, ENCODER, KL_TERM, DECODER, OTHER)
FAMILY_OF = {
    "none": CONTROLS, "kl-annealing": SCHEDULES, "cyclical": SCHEDULES, "aggressive": ENCODER,
    "pretrain-fb": ENCODER, "beta": KL_TERM, "free-bits": KL_TERM, "bn-vae": KL_TERM,
    "word-dropout": DECODER, "dilated-cnn": DECODER, "du-vae": KL_TERM, "delta-vae": KL_TERM,
    "min-rate": KL_TERM, "capacity": KL_TERM, "vmf": KL_TERM, "skip-vae": OTHER, "bow": OTHER,
}
@dataclass(frozen=True)
class RemedyStyle:
    """How one remedy is drawn."""

    colour: Colour
    family: Family

    @property
    def marker(self) -> str:
        return self.family.marker

    @property
    def linestyle(self) -> Any:
        return self.family.linestyle


Styles = dict[str, RemedyStyle]  # figure label -> style


def family(label: str) -> Family:
    """A remedy's family by its first part; the autoencoder control (beta = 0) is a control."""
    if autoencoder_control(label):
        return CONTROLS
    return FAMILY_OF.get(spec_parts(label)[0].name, OTHER)


def remedy_styles(order: list[str]) -> dict[str, RemedyStyle]:
    """A style per figure label, fixed by the report's order: each remedy takes the hue used least so
    far among those its family does not use yet (the baseline, first in the order, is blue)."""
    used: Counter[int] = Counter()
    by_family: dict[Family, set[int]] = {}
    styles = {}
    for label in order:
        kin = family(label)
        taken = by_family.setdefault(kin, set())
        free = [index for index in range(len(HUES)) if index not in taken] or list(range(len(HUES)))
        index = min(free, key=lambda i: (used[i], i))
        used[index] += 1
        taken.add(index)
        styles[label] = RemedyStyle(HUES[index], kin)
    return styles


def collapsed(frame: pd.DataFrame) -> np.ndarray:
    """Per row, whether its run collapsed (`escaped` False); False where unknown or not decided."""
    if "escaped" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame["escaped"].eq(False).to_numpy()  # NaN (no test metrics) is not a collapse


def run_colour(style: RemedyStyle, is_collapsed: bool) -> Colour:
    return GREY if is_collapsed else style.colour


def draw_runs(ax: Axes, x: np.ndarray, y: np.ndarray, down: np.ndarray, style: RemedyStyle,
              size: float = 28, **options: Any) -> None:
    """Single runs as markers of the remedy's family: its colour, grey where the run collapsed (`down`)."""
    colours = [run_colour(style, bool(flag)) for flag in down]
    ax.scatter(x, y, c=colours, marker=style.marker, s=size, linewidths=0.6, edgecolors="black", zorder=3,
               **options)


def remedy_handle(label: str, style: RemedyStyle, line: bool = True) -> Line2D:
    return Line2D([], [], color=style.colour, marker=style.marker, linewidth=1.6, markeredgecolor="black",
                  linestyle=style.linestyle if line else "none", markeredgewidth=0.5, label=label)


def remedy_legend(figure: Figure, labels: list[str], styles: Styles, *, line: bool = True,
                  grey: bool = False, extra: list[Line2D] | None = None) -> None:
    """The legend under the figure: remedies grouped by family under the family's name in bold, then
    `extra` entries and the grey of collapsed runs; each group whole in one column, as many columns as
    the figure's width holds."""
    groups, heads = [], set()
    for kin in FAMILIES:
        members = [remedy_handle(label, styles[label], line) for label in labels
                   if styles[label].family == kin]
        if members:
            heads.add(kin.name)
            groups.append([Line2D([], [], linestyle="none", label=kin.name), *members])
    notes = [*(extra or []), *([Line2D([], [], color=GREY, marker="o", linestyle="-" if line else "none",
                                       label="collapsed run (any remedy)")] if grey else [])]
    if notes:
        groups.append(notes)
    columns = _packed(groups, max(1, int(figure.get_figwidth() // LEGEND_COLUMN_INCHES)))
    rows = max(len(column) for column in columns)
    blank = Line2D([], [], linestyle="none")
    handles = [handle for column in columns for handle in [*column, *[blank] * (rows - len(column))]]
    legend = figure.legend(handles, [handle.get_label() for handle in handles], loc="outside lower center",
                           ncols=len(columns), frameon=False, fontsize="small")
    for text in legend.get_texts():
        if text.get_text() in heads:
            text.set_fontweight("bold")


def _packed(groups: list[list[Line2D]], most: int) -> list[list[Line2D]]:
    """`groups` in order into at most `most` columns (as few rows as that allows), no group split."""
    height = max(max(len(group) for group in groups), -(-sum(len(group) for group in groups) // most))
    while True:
        columns: list[list[Line2D]] = [[]]
        for group in groups:
            if columns[-1] and len(columns[-1]) + len(group) > height:
                columns.append([])
            columns[-1] += group
        if len(columns) <= most:
            return columns
        height += 1
