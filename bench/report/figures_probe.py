"""The sentiment probe's figure: what z knows about the label, per run, against bag of words and chance.

Balanced accuracy (the mean of the per-label recalls) is drawn, not plain
accuracy: on yelp-short about 62% of sentences carry one label, so a z that
knows nothing scores 0.62 in accuracy but 0.5 in balanced accuracy, for any
label balance. Stores probed before `probe.json` held balanced accuracy are
drawn with plain accuracy and the majority class, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.report.figures_common import MIN_WIDTH, FigureFile, jitter, present, style, wrap
from bench.report.figures_styles import COLLAPSED, GREY, Styles, collapsed, draw_runs, remedy_legend
from bench.report.runs_frame import FINISHED


@dataclass(frozen=True)
class ProbeScore:
    """Which runs-frame columns the figure draws, and how it names them."""

    z: str  # the probe on the raw posterior means
    whitened: str | None  # the probe on the standardised means, where recorded
    bow: str
    chance: str
    name: str
    axis: str  # what the name means, under it on the y axis
    chance_name: str


BALANCED = ProbeScore("probe_bal_acc", "probe_white_bal_acc", "probe_bow_bal_acc", "probe_chance_bal_acc",
                      "balanced accuracy", "(mean over labels of the share predicted right)",
                      "chance: always one label (1 / number of labels)")
PLAIN = ProbeScore("probe_acc", None, "probe_bow_acc", "probe_chance_acc",
                   "accuracy", "(share of sentences predicted right)", "chance: always the majority label")


def probe_score(runs: pd.DataFrame) -> ProbeScore | None:
    """Balanced accuracy where probe.json records it, plain accuracy for older probes, None unprobed."""
    for score in (BALANCED, PLAIN):
        if score.z in runs and runs[score.z].notna().any():
            return score
    return None


def sentiment_probe(runs: pd.DataFrame, order: list[str], styles: Styles) -> FigureFile | None:
    """Probe score per remedy, one panel per probed cell, the two references as horizontal lines."""
    score = probe_score(runs)
    if score is None:
        return None
    probed = runs[(runs["status"] == FINISHED) & runs[score.z].notna()]
    conditions = sorted(probed["condition"].unique())
    widths = [1.1 * len(present(order, probed[probed["condition"] == c])) + 1.4 for c in conditions]
    whitened = score.whitened in probed and bool(probed[score.whitened].notna().any())
    with style():
        figure = Figure(figsize=(max(MIN_WIDTH, sum(widths) + 0.6), 6.4), layout="constrained")
        axes = figure.subplots(1, len(conditions), squeeze=False, sharey=True,
                               gridspec_kw={"width_ratios": widths})[0]
        for ax, condition in zip(axes, conditions, strict=True):
            _probe_panel(ax, probed[probed["condition"] == condition], order, styles, score, whitened)
        columns = [score.z, score.bow, score.chance, *([score.whitened] if whitened else [])]
        lowest = float(np.nanmin(probed[columns].to_numpy(dtype=float)))
        axes[0].set_ylim(max(0.0, min(lowest, 0.5) - 0.05), 1.02)
        axes[0].set_ylabel(f"test {score.name}\n{score.axis}")
        references = [
            Line2D([], [], color="black", marker="_", linestyle="none", markersize=18, markeredgewidth=2.5,
                   label="mean over seeds"),
            *([Line2D([], [], color="black", marker="o", markerfacecolor="none", linestyle="none",
                      label="same run, means standardised per unit")] if whitened else []),
            Line2D([], [], color="black", linestyle="--", label="bag-of-words logistic regression"),
            Line2D([], [], color="black", linestyle=":", label=score.chance_name),
        ]
        remedy_legend(figure, present(order, probed), styles, line=False, grey=bool(collapsed(probed).any()),
                      extra=references)
        figure.suptitle(f"What z knows: the label (sentiment) predicted from the posterior mean E_q[z|x]\n"
                        f"by a logistic regression; test {score.name}")
    return FigureFile("probe.png", "Sentiment probe: what z knows", _caption(score, whitened), figure)


def _caption(score: ProbeScore, whitened: bool) -> str:
    measure = ("balanced accuracy (the mean over labels of the share of that label's sentences predicted "
               "right, so that chance is 1 / number of labels whatever the balance)" if score is BALANCED
               else "accuracy (these probes predate balanced accuracy: chance is the majority label's share; "
               "delete their probe.json and run `collapse-bench probe` again for balanced accuracy)")
    return (f"Each filled marker is one finished run: the test {measure} of a logistic regression that "
            "predicts the label (sentiment) from the posterior means of the run's training sentences, in the "
            f"prior's units. Grey markers: {COLLAPSED}. "
            + ("Hollow: the same run with each unit of the means standardised over the training sentences "
               "first, which also reads a collapsed encoder's faint wobble. " if whitened else "")
            + "Tick: mean over seeds. Dashed: the same classifier on bag-of-words features of the same "
            "sentences; dotted: chance. A z that says nothing about the label sits on the dotted line.")


def _probe_panel(ax: Axes, cell: pd.DataFrame, order: list[str], styles: Styles,
                 score: ProbeScore, whitened: bool) -> None:
    """Runs as markers, the mean as a tick in the remedy's colour, the two references as lines."""
    labels = present(order, cell)
    ticks = []
    for position, label in enumerate(labels):
        runs = cell[cell["remedy_label"] == label]
        values = runs[score.z].to_numpy(dtype=float)
        offsets = position + jitter(len(values), 0.12) - (0.12 if whitened else 0.0)
        down = collapsed(runs)
        draw_runs(ax, offsets, values, down, styles[label])
        if whitened:
            ax.scatter(offsets + 0.24, runs[score.whitened].to_numpy(dtype=float), s=28, zorder=3,
                       marker=styles[label].marker, facecolors="none", linewidths=1.0,
                       edgecolors=[GREY if flag else styles[label].colour for flag in down])
        ax.plot([position - 0.35, position + 0.35], [values.mean()] * 2, color=styles[label].colour,
                linewidth=3, zorder=2)
        ticks.append(label.replace("+", "+\n").replace("(", "\n(") + f"\n(n={len(values)})")
    ax.axhline(cell[score.bow].mean(), color="black", linestyle="--", linewidth=1.2)
    ax.axhline(cell[score.chance].mean(), color="black", linestyle=":", linewidth=1.5)
    ax.set_xticks(np.arange(len(labels)), ticks, fontsize="small")
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.grid(axis="x", visible=False)
    sizes = cell[["probe_n_train", "probe_n_test"]].max()
    ax.set_title(f"{wrap(cell['condition'].iloc[0])}\ntrained on {int(sizes['probe_n_train'])} sentences, "
                 f"tested on {int(sizes['probe_n_test'])}", fontsize="medium")
